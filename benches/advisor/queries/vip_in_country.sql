SELECT c_id, c_email FROM customer WHERE c_vip AND c_country = 'FR'
