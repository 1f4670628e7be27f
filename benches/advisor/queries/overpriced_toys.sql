SELECT p.p_id FROM product p
 WHERE p.p_category = 'TOYS'
   AND p.p_price > (SELECT 3 * avg(l.ol_price) FROM order_line l
                     WHERE l.ol_product = p.p_id AND l.ol_ship >= date '2025-01-01')
