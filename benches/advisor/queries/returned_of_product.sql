SELECT count(*) FROM order_line WHERE ol_returned AND ol_product = 4242
