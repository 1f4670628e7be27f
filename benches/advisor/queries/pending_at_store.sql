SELECT o_id, o_customer FROM orders WHERE o_status = 'P' AND o_store = 17
