SELECT p.p_id, count(*) FROM product p JOIN order_line l ON l.ol_product = p.p_id
 WHERE p.p_discontinued AND l.ol_ship >= date '2025-06-01'
 GROUP BY p.p_id
