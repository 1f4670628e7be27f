SELECT * FROM customer WHERE c_email = 'user4242@example.com'
