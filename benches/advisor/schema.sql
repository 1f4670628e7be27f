-- The advisor benchmark's schema: a retail shop with a million order lines.
-- Deterministic (setseed); about 30 s to load on a two-core machine.
SELECT setseed(0.42);

CREATE TABLE region (r_id int PRIMARY KEY, r_name char(20) NOT NULL);
INSERT INTO region VALUES (1, 'NORTH'), (2, 'SOUTH'), (3, 'EAST'), (4, 'WEST'),
  (5, 'CENTRAL'), (6, 'ISLANDS'), (7, 'OVERSEAS'), (8, 'ONLINE');

CREATE TABLE store (
  s_id int PRIMARY KEY,
  s_region int NOT NULL REFERENCES region,
  s_name varchar(40) NOT NULL,
  s_open boolean NOT NULL
);
INSERT INTO store SELECT g, g % 8 + 1, 'Store #' || g, g % 25 <> 0 FROM generate_series(1, 300) g;

-- 12 categories in a char(12) column, 400 brands, 3% discontinued.
CREATE TABLE product (
  p_id int PRIMARY KEY,
  p_category char(12) NOT NULL,
  p_brand varchar(20) NOT NULL,
  p_price numeric(10, 2) NOT NULL,
  p_discontinued boolean NOT NULL
);
INSERT INTO product
SELECT g,
       (ARRAY['GARDEN', 'TOYS', 'BOOKS', 'KITCHEN', 'SPORTS', 'TOOLS', 'BEAUTY', 'FOOD',
              'MUSIC', 'OFFICE', 'PETS', 'GAMES'])[1 + g % 12],
       'brand' || (g % 400),
       round((1 + random() * 199)::numeric, 2),
       random() < 0.03
  FROM generate_series(1, 20000) g;

-- 5 segments in a char(10) column, a skewed country (60% US), 1% VIP.
CREATE TABLE customer (
  c_id int PRIMARY KEY,
  c_segment char(10) NOT NULL,
  c_country char(2) NOT NULL,
  c_email varchar(60) NOT NULL,
  c_vip boolean NOT NULL,
  c_created date NOT NULL
);
INSERT INTO customer
SELECT g,
       (ARRAY['CONSUMER', 'SMB', 'ENTERPRISE', 'PUBLIC', 'EDUCATION'])[1 + g % 5],
       CASE WHEN g % 10 < 6 THEN 'US'
            ELSE (ARRAY['FR', 'DE', 'GB', 'IT', 'ES', 'NL', 'BE', 'CH', 'AT', 'SE',
                        'NO', 'DK', 'FI', 'PL', 'PT', 'IE', 'CZ', 'HU', 'RO', 'GR'])[1 + (g / 10) % 20]
       END,
       'user' || g || '@example.com',
       random() < 0.01,
       date '2021-01-01' + (g * 1826 / 100000)
  FROM generate_series(1, 100000) g;

-- 250,000 orders over four years; status skewed: 92% delivered.
CREATE TABLE orders (
  o_id int PRIMARY KEY,
  o_customer int NOT NULL,
  o_store int NOT NULL,
  o_date date NOT NULL,
  o_status char(1) NOT NULL,
  o_total numeric(12, 2) NOT NULL
);
INSERT INTO orders
SELECT g,
       1 + (random() * 99999)::int,
       1 + (random() * 299)::int,
       date '2022-01-01' + (random() * 1460)::int,
       CASE WHEN r < 0.92 THEN 'D' WHEN r < 0.96 THEN 'S' WHEN r < 0.99 THEN 'P' ELSE 'C' END,
       0
  FROM (SELECT g, random() AS r FROM generate_series(1, 250000) g) x;

-- The fact table: four lines an order, a million rows; products skewed
-- toward the low ids; 2% returned.
CREATE TABLE order_line (
  ol_order int NOT NULL,
  ol_no int NOT NULL,
  ol_product int NOT NULL,
  ol_qty int NOT NULL,
  ol_price numeric(10, 2) NOT NULL,
  ol_ship date NOT NULL,
  ol_returned boolean NOT NULL,
  PRIMARY KEY (ol_order, ol_no)
);
INSERT INTO order_line
SELECT o.o_id, n,
       1 + (power(random(), 2) * 19999)::int,
       1 + (random() * 9)::int,
       round((1 + random() * 199)::numeric, 2),
       o.o_date + (random() * 6)::int,
       random() < 0.02
  FROM orders o, generate_series(1, 4) n;

UPDATE orders o SET o_total = s.total
  FROM (SELECT ol_order, sum(ol_qty * ol_price) AS total FROM order_line GROUP BY ol_order) s
 WHERE s.ol_order = o.o_id;
