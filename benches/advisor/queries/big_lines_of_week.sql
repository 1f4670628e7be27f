SELECT l.ol_order, l.ol_product, l.ol_qty FROM order_line l
 WHERE l.ol_ship >= date '2024-06-01' AND l.ol_ship < date '2024-06-08'
   AND l.ol_qty > (SELECT 1.5 * avg(l2.ol_qty) FROM order_line l2 WHERE l2.ol_product = l.ol_product)
