SELECT o_id, o_date, o_total FROM orders WHERE o_customer = 4242 ORDER BY o_date DESC LIMIT 20
