SELECT count(*) FROM customer WHERE c_segment = 'ENTERPRISE' AND c_created >= date '2025-11-01'
