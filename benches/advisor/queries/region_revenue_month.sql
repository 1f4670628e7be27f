SELECT s.s_name, sum(o.o_total) FROM orders o
  JOIN store s ON s.s_id = o.o_store
  JOIN region r ON r.r_id = s.s_region
 WHERE r.r_name = 'NORTH' AND o.o_date >= date '2025-01-01' AND o.o_date < date '2025-02-01'
 GROUP BY s.s_name
