//! Keyset pagination: conditions for "the rows after this cursor" that use an index instead of
//! an `OFFSET`.

use kanjian_kernel::Timestamp;
use sea_orm::{ColumnTrait, Condition};

/// Newest-first lists ordered by `(time DESC, tie DESC)`: the rows strictly after the cursor
/// `(at, key)`.
pub fn older_than(time: impl ColumnTrait, tie: impl ColumnTrait, at: Timestamp, key: i64) -> Condition {
    Condition::any()
        .add(time.lt(at))
        .add(Condition::all().add(time.eq(at)).add(tie.lt(key)))
}

/// Oldest-first lists ordered by `(time ASC, tie ASC)`: the rows strictly after the cursor
/// `(at, key)`.
pub fn newer_than(time: impl ColumnTrait, tie: impl ColumnTrait, at: Timestamp, key: i64) -> Condition {
    Condition::any()
        .add(time.gt(at))
        .add(Condition::all().add(time.eq(at)).add(tie.gt(key)))
}
