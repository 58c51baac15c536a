-- The same writes for :batch orders in one transaction, as a per-node batcher would send them:
-- the claims in one statement, the purchase limits in one, the orders with their lines,
-- timeline entries and outbox events in one (data-modifying CTEs), the answers in one, and one
-- conditional UPDATE of the SKU row for all their units.
\set key random(1, 2000000000)
\set first random(0, 100000)
\set bucket random(1, :buckets)
INSERT INTO db_idempotency_keys (name, fingerprint, token, answer, claimed_until_ms, expires_ms)
  SELECT 'buy_now:batch:' || :client_id || '-' || :key || ':' || g, 'fingerprint-0123456789abcdef0123456789', :key, NULL, 1, 2
  FROM generate_series(1, :batch) g
  ON CONFLICT (name) DO NOTHING;
BEGIN;
INSERT INTO commerce_purchases (user_id, product_id, quantity)
  SELECT :first * :batch + g, 1, 1 FROM generate_series(1, :batch) g
  ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = commerce_purchases.quantity + excluded.quantity;
WITH o AS (
  INSERT INTO commerce_orders (buyer_id, shop_id, state, currency, items_total_minor, shipping_fee_minor, total_minor, address, pay_by, created_at, updated_at, version)
  SELECT :first * :batch + g, 1, 'PENDING_PAYMENT', 'CNY', 990, 0, 990, '{"name":"张三","phone":"13800000000","region":"上海市 长宁区","detail":"长宁路 1 号"}', now() + interval '15 minutes', now(), now(), 1
  FROM generate_series(1, :batch) g
  RETURNING id, buyer_id),
l AS (
  INSERT INTO commerce_order_lines (order_id, product_id, sku_id, title, specs, unit_price_minor, quantity, amount_minor, source, shipping_share_minor)
  SELECT id, 1, 1, '秒杀 明前龙井', '[]', 990, 1, 990, 'LIVE_ROOM', 0 FROM o),
e AS (
  INSERT INTO commerce_order_events (order_id, kind, at, actor_id, note) SELECT id, 'PLACED', now(), buyer_id, '' FROM o),
x AS (
  INSERT INTO events_outbox (event_id, kind, payload, occurred_at)
  SELECT md5(random()::text || id)::uuid::text, 'commerce.order_placed', '{"order_id":' || id || ',"buyer_id":' || buyer_id || ',"lines":[{"sku_id":1,"quantity":1,"amount":{"minor":990,"currency":"CNY"}}],"version":1}', 0 FROM o
  RETURNING 1)
SELECT pg_notify('kanjian_events', '') WHERE EXISTS (SELECT 1 FROM x);
UPDATE db_idempotency_keys SET answer = 'order'
  WHERE name IN (SELECT 'buy_now:batch:' || :client_id || '-' || :key || ':' || g FROM generate_series(1, :batch) g) AND answer IS NULL;
UPDATE commerce_skus SET stock = stock - :batch, held = held + :batch, updated_at = now() WHERE id = :bucket AND stock >= :batch AND price_minor = 990;
COMMIT;
