SELECT * FROM order_line WHERE ol_order = 123456
