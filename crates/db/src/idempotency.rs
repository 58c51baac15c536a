//! Idempotency keys for every mutation that moves money (`buyNow`, checkout, pay, cancel,
//! refunds), kept in the database so that they hold across nodes and restarts. The rules are
//! Stripe's and the IETF Idempotency-Key draft's:
//!
//! - the same key with the same input answers what the first call answered, whatever changed
//!   since;
//! - the same key with different input is `IDEMPOTENCY_KEY_REUSED`;
//! - a retry while the first call still runs is `IN_PROGRESS` (retry a little later);
//! - a key is kept for 24 hours, then it may be used afresh.
//!
//! A key belongs to the module the `Db` was handed to (`db.for_module`), the operation and the
//! caller: two users, or two operations, never share one.
//!
//! How a use case uses it: [`begin`] claims the key before anything is done, and either
//! answers the stored answer or hands back a [`Claim`]. The use case then does its work and
//! stores its answer with [`finish`] **in its own transaction**: the answer commits with the
//! writes it describes, or neither does. A use case that fails without writing gives the claim
//! back with [`release`], so a retry runs at once. A claim holds for [`CLAIM_MS`]; a node that
//! dies mid-call leaves it, and once it lapses a retry runs the operation again. That is safe
//! because nothing of the first run committed (its answer would have), and if the first run
//! is only slow, its [`finish`] finds the claim taken and fails, rolling its transaction back.
//!
//! A batch (many calls written in one transaction) saves each call's claim commit: [`look_up`]
//! answers or refuses what is already stored without writing, and [`claim_all`] claims the new
//! keys inside the batch's transaction, where they commit with the batch's writes and answers
//! ([`finish_all`]) or vanish with them. A key someone stored meanwhile is left out of the batch
//! and its call goes through [`begin_unclaimed`], the one-call way.

use kanjian_kernel::{Context, Error, Result, UserErrorCode};
use sea_orm::{ConnectionTrait, Statement, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::{Db, Params};

/// The table (created by the shared migration history, `m20261130_000022_db_idempotency_keys`).
pub const TABLE: &str = "db_idempotency_keys";

/// How long a key answers with its first answer.
pub const KEEP_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a claim holds while its call runs: longer than any money-moving use case takes,
/// short enough that a retry after a crashed node does not wait long.
pub const CLAIM_MS: i64 = 60 * 1000;

/// The longest key accepted (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// How often one node deletes the keys past their 24 hours.
const PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

/// One idempotency key as a caller sent it, for one operation of one caller.
#[derive(Debug, Clone)]
pub struct Key<'a> {
    /// What the key is for, named by the module (`buy_now`, `pay`).
    pub operation: &'a str,
    /// Who sent it: `user:42`.
    pub caller: String,
    /// The key itself, as the client sent it.
    pub key: &'a str,
}

/// A key claimed for one run of its operation: hand it to [`finish`] or [`release`].
#[derive(Debug)]
#[must_use = "a claim is finished with the answer, or released"]
pub struct Claim {
    name: String,
    token: i64,
}

/// What [`begin`] found.
#[derive(Debug)]
pub enum Begun<T> {
    /// The key is new (or its earlier run never committed): run the operation.
    Run(Claim),
    /// The key was used with the same input: this is what that call answered.
    Answered(T),
}

/// Claims `key` for `input`, or answers what an earlier call with the same key and input
/// answered. `input` is what identifies the request (its fingerprint is compared), typically
/// the mutation's input without the key.
pub async fn begin<T: DeserializeOwned>(db: &Db, key: Key<'_>, input: &impl Serialize) -> Result<Begun<T>> {
    begin_unclaimed(db, &unclaimed(db, key, input)?).await
}

/// [`begin`] for a key [`look_up`] found new, when the run could not claim it with
/// [`claim_all`] (someone stored it meanwhile) or goes the one-call way after all.
pub async fn begin_unclaimed<T: DeserializeOwned>(db: &Db, key: &Unclaimed) -> Result<Begun<T>> {
    let Unclaimed { name, fingerprint } = key;
    // Twice at most: a key pruned between the claim and the look is claimed on the second try.
    for _ in 0..2 {
        let now = db.now_millis();
        let token: i64 = rand::random();
        if claim(db, name, fingerprint, token, now).await? {
            prune_now_and_then(db, now).await;
            return Ok(Begun::Run(Claim { name: name.clone(), token }));
        }
        let Some(stored) = look(db.writer(), db.backend(), name).await? else { continue };
        if let Some(answered) = stored.answer_for(fingerprint, now, true)? {
            return Ok(answered);
        }
    }
    Err(Error::Internal(anyhow::anyhow!("an idempotency key could neither be claimed nor read")))
}

/// A key no stored call has answered or is running, as far as [`look_up`] could tell: for runs
/// that claim their keys inside their own transaction ([`claim_all`]), which saves the claim's
/// commit of its own. A batch of `buyNow`s uses it.
#[derive(Debug)]
pub struct Unclaimed {
    name: String,
    fingerprint: String,
}

/// What [`look_up`] found.
#[derive(Debug)]
pub enum Looked<T> {
    /// Nothing stored answers the key: claim it with [`claim_all`] or [`begin_unclaimed`].
    New(Unclaimed),
    /// The key was used with the same input: this is what that call answered.
    Answered(T),
}

/// Looks `key` up without claiming it, with [`begin`]'s answers and refusals. It reads a
/// reader: a read that is a moment old says `New` for a key just stored, and [`claim_all`] then
/// finds the key taken, so nothing runs twice.
pub async fn look_up<T: DeserializeOwned>(db: &Db, key: Key<'_>, input: &impl Serialize) -> Result<Looked<T>> {
    let key = unclaimed(db, key, input)?;
    let Some(stored) = look(db.reader(), db.backend(), &key.name).await? else { return Ok(Looked::New(key)) };
    Ok(match stored.answer_for(&key.fingerprint, db.now_millis(), false)? {
        Some(Begun::Answered(answer)) => Looked::Answered(answer),
        _ => Looked::New(key),
    })
}

/// Claims `keys` in `conn`'s transaction, so that the claims commit with the run's writes and
/// its answers ([`finish_all`]) or vanish with them. One statement, in name order (two batches
/// claiming the same keys never wait on each other in a cycle). A key already in the table
/// (answered, running, or lapsed) is not claimed: `None`, and its call goes through
/// [`begin_unclaimed`]. On PostgreSQL a key another open transaction claimed waits for it.
pub async fn claim_all<C: ConnectionTrait>(db: &Db, conn: &C, keys: &[&Unclaimed]) -> Result<Vec<Option<Claim>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let now = db.now_millis();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|a, b| keys[*a].name.cmp(&keys[*b].name));
    let tokens: Vec<i64> = keys.iter().map(|_| rand::random()).collect();
    let mut p = Params::new();
    let (claimed_until, expires) = (p.bind(now.saturating_add(CLAIM_MS)), p.bind(now.saturating_add(KEEP_MS)));
    let mut tuples = Vec::with_capacity(keys.len());
    for &i in &order {
        let key = p.bind_all([keys[i].name.clone().into(), keys[i].fingerprint.clone().into(), Value::from(tokens[i])]);
        tuples.push(format!("({key}, NULL, {claimed_until}, {expires})"));
    }
    let sql = format!(
        "INSERT INTO {TABLE} (name, fingerprint, token, answer, claimed_until_ms, expires_ms) VALUES {} \
         ON CONFLICT (name) DO NOTHING RETURNING name",
        tuples.join(", ")
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, p.into_values()))
        .await
        .context("claiming idempotency keys")?;
    let mut claimed = std::collections::HashSet::with_capacity(rows.len());
    for row in rows {
        claimed.insert(row.try_get::<String>("", "name").context("reading a claimed key")?);
    }
    Ok(keys
        .iter()
        .zip(tokens)
        .map(|(key, token)| claimed.contains(&key.name).then(|| Claim { name: key.name.clone(), token }))
        .collect())
}

/// The refusal of a retry while the first call with its key still runs.
pub fn in_progress() -> Error {
    Error::user("idempotencyKey", UserErrorCode::InProgress, "a request with this idempotency key is still running; retry in a moment")
}

impl Unclaimed {
    /// The key's full name (module, operation, caller, key): equal for the same key.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn unclaimed(db: &Db, key: Key<'_>, input: &impl Serialize) -> Result<Unclaimed> {
    validate(key.key)?;
    Ok(Unclaimed { name: format!("{}:{}:{}:{}", db.module(), key.operation, key.caller, key.key), fingerprint: fingerprint(input)? })
}

/// A key's row as stored.
struct Stored {
    fingerprint: String,
    answer: Option<String>,
    claimed_until_ms: i64,
    expires_ms: i64,
}

impl Stored {
    /// What a call with `fingerprint` gets from this row: its answer, or a refusal (other
    /// input; still running). `None` when the row no longer binds (expired, or a lapsed claim),
    /// or, unless `running_is_refused`, while its claim holds.
    fn answer_for<T: DeserializeOwned>(&self, fingerprint: &str, now: i64, running_is_refused: bool) -> Result<Option<Begun<T>>> {
        if self.expires_ms <= now {
            return Ok(None);
        }
        if self.fingerprint != fingerprint {
            return Err(Error::user(
                "idempotencyKey",
                UserErrorCode::IdempotencyKeyReused,
                "this idempotency key was already used with different input; use a new key for a new request",
            ));
        }
        match &self.answer {
            Some(answer) => serde_json::from_str(answer).map(|a| Some(Begun::Answered(a))).context("reading a stored answer"),
            None if running_is_refused || self.claimed_until_ms > now => Err(in_progress()),
            None => Ok(None),
        }
    }
}

/// Stores the answer of a claimed run, on `conn`: the transaction that made the run's writes.
/// Fails (so the transaction rolls back) when the claim lapsed and another run took the key.
/// The claim is borrowed: if the transaction then fails to commit, the caller still releases it.
pub async fn finish<C: ConnectionTrait>(conn: &C, claim: &Claim, answer: &impl Serialize) -> Result<()> {
    let answer = serde_json::to_string(answer).context("storing an idempotent answer")?;
    let sql = format!("UPDATE {TABLE} SET answer = $1 WHERE name = $2 AND token = $3 AND answer IS NULL");
    let values: [Value; 3] = [answer.into(), claim.name.clone().into(), claim.token.into()];
    let done = conn
        .execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, values))
        .await
        .context("storing an idempotent answer")?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(Error::Internal(anyhow::anyhow!("the claim on idempotency key {} lapsed before its answer was stored", claim.name)))
    }
}

/// [`finish`] for many claimed runs written in one transaction (a batch of `buyNow`s): one
/// statement. Fails, so the whole transaction rolls back, if any one claim lapsed.
pub async fn finish_all<C: ConnectionTrait, A: Serialize>(conn: &C, answers: &[(&Claim, A)]) -> Result<()> {
    if answers.is_empty() {
        return Ok(());
    }
    let mut p = Params::new();
    let mut cases = String::new();
    let mut claimed = Vec::with_capacity(answers.len());
    for (claim, answer) in answers {
        let answer = serde_json::to_string(answer).context("storing an idempotent answer")?;
        let (name, token, answer) = (p.bind(claim.name.clone()), p.bind(claim.token), p.bind(answer));
        cases.push_str(&format!(" WHEN {name} THEN {answer}"));
        claimed.push(format!("(name = {name} AND token = {token})"));
    }
    let sql = format!("UPDATE {TABLE} SET answer = CASE name{cases} END WHERE answer IS NULL AND ({})", claimed.join(" OR "));
    let done = conn
        .execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, p.into_values()))
        .await
        .context("storing idempotent answers")?;
    if done.rows_affected() == answers.len() as u64 {
        Ok(())
    } else {
        Err(Error::Internal(anyhow::anyhow!("a claim on an idempotency key lapsed before its answer was stored")))
    }
}

/// Gives a claim back after a run that wrote nothing: a retry with the key runs at once.
pub async fn release(db: &Db, claim: Claim) -> Result<()> {
    let sql = format!("DELETE FROM {TABLE} WHERE name = $1 AND token = $2 AND answer IS NULL");
    let values: [Value; 2] = [claim.name.into(), claim.token.into()];
    db.writer()
        .execute_raw(Statement::from_sql_and_values(db.backend(), sql, values))
        .await
        .context("releasing an idempotency key")?;
    Ok(())
}

/// [`release`] for claims taken in `conn`'s transaction ([`claim_all`]) whose calls will not be
/// answered there after all: they go with it, and the calls can claim their keys again.
pub async fn release_all<C: ConnectionTrait>(conn: &C, claims: Vec<Claim>) -> Result<()> {
    if claims.is_empty() {
        return Ok(());
    }
    let mut p = Params::new();
    let claimed: Vec<String> = claims.into_iter().map(|c| format!("(name = {} AND token = {})", p.bind(c.name), p.bind(c.token))).collect();
    let sql = format!("DELETE FROM {TABLE} WHERE answer IS NULL AND ({})", claimed.join(" OR "));
    conn.execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, p.into_values()))
        .await
        .context("releasing idempotency keys")?;
    Ok(())
}

fn validate(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::user("idempotencyKey", UserErrorCode::Required, "an idempotency key is required: a new random string (a UUID) per request"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::user("idempotencyKey", UserErrorCode::TooLong, format!("an idempotency key is at most {MAX_KEY_LEN} characters")));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::user("idempotencyKey", UserErrorCode::Invalid, "an idempotency key is printable ASCII without spaces"));
    }
    Ok(())
}

fn fingerprint(input: &impl Serialize) -> Result<String> {
    let bytes = serde_json::to_vec(input).context("fingerprinting an idempotent request")?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The one statement that claims: a new key, a key past its 24 hours, or a lapsed claim of the
/// same input that never got an answer. Whether it claimed.
async fn claim(db: &Db, name: &str, fingerprint: &str, token: i64, now: i64) -> Result<bool> {
    let sql = format!(
        "INSERT INTO {TABLE} (name, fingerprint, token, answer, claimed_until_ms, expires_ms) \
         VALUES ($1, $2, $3, NULL, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET fingerprint = $2, token = $3, answer = NULL, claimed_until_ms = $4, expires_ms = $5 \
         WHERE {TABLE}.expires_ms <= $6 \
            OR ({TABLE}.answer IS NULL AND {TABLE}.claimed_until_ms <= $6 AND {TABLE}.fingerprint = $2) \
         RETURNING token"
    );
    let values: [Value; 6] = [
        name.into(),
        fingerprint.into(),
        token.into(),
        now.saturating_add(CLAIM_MS).into(),
        now.saturating_add(KEEP_MS).into(),
        now.into(),
    ];
    let row = db
        .writer()
        .query_one_raw(Statement::from_sql_and_values(db.backend(), sql, values))
        .await
        .context("claiming an idempotency key")?;
    Ok(row.is_some())
}

/// A key's stored row, if it exists.
async fn look<C: ConnectionTrait>(conn: &C, backend: sea_orm::DbBackend, name: &str) -> Result<Option<Stored>> {
    let sql = format!("SELECT fingerprint, answer, claimed_until_ms, expires_ms FROM {TABLE} WHERE name = $1");
    let row = conn.query_one_raw(Statement::from_sql_and_values(backend, sql, [Value::from(name)])).await.context("reading an idempotency key")?;
    row.map(|row| {
        Ok(Stored {
            fingerprint: row.try_get("", "fingerprint").context("reading a key's fingerprint")?,
            answer: row.try_get("", "answer").context("reading a key's answer")?,
            claimed_until_ms: row.try_get("", "claimed_until_ms").context("reading a key's claim")?,
            expires_ms: row.try_get("", "expires_ms").context("reading a key's expiry")?,
        })
    })
    .transpose()
}

/// Deletes keys past their 24 hours, at most every ten minutes per node.
async fn prune_now_and_then(db: &Db, now: i64) {
    if !crate::due_now(&db.shared.idempotency_pruned_at, now, PRUNE_EVERY_MS) {
        return;
    }
    let sql = format!("DELETE FROM {TABLE} WHERE expires_ms <= $1");
    let pruned = db.writer().execute_raw(Statement::from_sql_and_values(db.backend(), sql, [Value::from(now)])).await;
    if let Err(e) = pruned {
        tracing::warn!(error = ?e, "could not prune idempotency keys; trying again later");
    }
}
