SELECT o_id, o_total, (SELECT count(*) FROM order_line WHERE ol_order = o_id) AS lines
  FROM orders WHERE o_customer = 777
