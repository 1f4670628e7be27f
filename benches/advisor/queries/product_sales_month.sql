SELECT sum(ol_qty * ol_price) FROM order_line
 WHERE ol_product = 777 AND ol_ship BETWEEN date '2024-03-01' AND date '2024-03-31'
