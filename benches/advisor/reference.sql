-- The reference index set for the advisor benchmark, chosen by hand from
-- the schema and the 16 queries before the advisor was ever run on them
-- (committed on its own, before any figure). One line per index, with the
-- queries it is meant for.

-- customer_orders (equality + ORDER BY o_date DESC LIMIT), smb_without_2025_orders
-- (anti join by customer, date range), lines_per_order_of_customer.
CREATE INDEX ref_orders_customer_date ON orders (o_customer, o_date);
-- pending_at_store (a store's 0.3%, the rare status filtered after),
-- latest_at_store (ORDER BY o_date DESC LIMIT).
CREATE INDEX ref_orders_store_date ON orders (o_store, o_date);
-- region_revenue_month: one month of 48.
CREATE INDEX ref_orders_date ON orders (o_date);
-- product_sales_month, big_lines_of_week's correlated subquery,
-- discontinued_still_sold, returned_of_product, overpriced_toys' SubPlan.
CREATE INDEX ref_order_line_product ON order_line (ol_product);
-- big_lines_of_week (one week), category_quarter (a quarter).
CREATE INDEX ref_order_line_ship ON order_line (ol_ship);
-- customer_by_email.
CREATE INDEX ref_customer_email ON customer (c_email);
-- new_enterprise_customers: one month of five years.
CREATE INDEX ref_customer_created ON customer (c_created);
-- vip_in_country: 1% VIP, then the country.
CREATE INDEX ref_customer_vip_country ON customer (c_country) WHERE c_vip;
