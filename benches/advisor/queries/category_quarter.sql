SELECT date_trunc('month', l.ol_ship) AS month, sum(l.ol_qty) FROM order_line l
  JOIN product p ON p.p_id = l.ol_product
 WHERE p.p_category = 'GARDEN' AND l.ol_ship >= date '2025-01-01' AND l.ol_ship < date '2025-04-01'
 GROUP BY 1
