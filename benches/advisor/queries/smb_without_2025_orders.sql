SELECT count(*) FROM customer c
 WHERE c.c_segment = 'SMB'
   AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.o_customer = c.c_id AND o.o_date >= date '2025-01-01')
