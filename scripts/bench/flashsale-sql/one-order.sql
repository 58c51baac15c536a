-- One buyNow's writes as kanjian sends them (crates/commerce/src/orders.rs), one order per
-- transaction: the idempotency claim on its own, then the purchase-limit upsert, the order, its
-- line, its timeline entry, its outbox event (with pg_notify), the idempotent answer, and last
-- the conditional UPDATE of the SKU row. :bucket is 1 (one hot row) unless the runner spreads it.
\set user random(1, 2000)
\set key random(1, 2000000000)
\set bucket random(1, :buckets)
INSERT INTO db_idempotency_keys (name, fingerprint, token, answer, claimed_until_ms, expires_ms)
  VALUES ('buy_now:user:' || :user || ':' || :client_id || '-' || :key, 'fingerprint-0123456789abcdef0123456789', :key, NULL, 1, 2)
  ON CONFLICT (name) DO NOTHING;
BEGIN;
INSERT INTO commerce_purchases (user_id, product_id, quantity) VALUES (:user, 1, 1)
  ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = commerce_purchases.quantity + excluded.quantity;
INSERT INTO commerce_orders (buyer_id, shop_id, state, currency, items_total_minor, shipping_fee_minor, total_minor, address, pay_by, created_at, updated_at, version)
  VALUES (:user, 1, 'PENDING_PAYMENT', 'CNY', 990, 0, 990, '{"name":"张三","phone":"13800000000","region":"上海市 长宁区","detail":"长宁路 1 号"}', now() + interval '15 minutes', now(), now(), 1)
  RETURNING id \gset
INSERT INTO commerce_order_lines (order_id, product_id, sku_id, title, specs, unit_price_minor, quantity, amount_minor, source, shipping_share_minor)
  VALUES (:id, 1, 1, '秒杀 明前龙井', '[]', 990, 1, 990, 'LIVE_ROOM', 0);
INSERT INTO commerce_order_events (order_id, kind, at, actor_id, note) VALUES (:id, 'PLACED', now(), :user, '');
WITH written AS (
  INSERT INTO events_outbox (event_id, kind, payload, occurred_at)
  VALUES (md5(random()::text)::uuid::text, 'commerce.order_placed', '{"order_id":' || :id || ',"buyer_id":' || :user || ',"lines":[{"sku_id":1,"quantity":1,"amount":{"minor":990,"currency":"CNY"}}],"version":1}', 0)
  RETURNING 1)
SELECT pg_notify('kanjian_events', '') FROM written;
UPDATE db_idempotency_keys SET answer = :id::text
  WHERE name = 'buy_now:user:' || :user || ':' || :client_id || '-' || :key AND token = :key AND answer IS NULL;
UPDATE commerce_skus SET stock = stock - 1, held = held + 1, updated_at = now() WHERE id = :bucket AND stock >= 1 AND price_minor = 990;
COMMIT;
