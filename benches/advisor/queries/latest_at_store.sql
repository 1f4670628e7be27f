SELECT * FROM orders WHERE o_store = 42 ORDER BY o_date DESC LIMIT 10
