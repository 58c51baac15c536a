//! Bound values for statements built at run time (multi-row `VALUES`, `IN` lists): each value
//! bound hands back its placeholder, so nobody counts `$n` by hand.

use sea_orm::Value;

/// The values of one statement, in placeholder order (`$1` first). Both backends read `$n`.
#[derive(Debug, Default)]
pub struct Params {
    values: Vec<Value>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `value` and answers its placeholder: `$3` for the third.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// Binds each of `values`: their placeholders joined by `, ` (an `IN (…)` list, a row).
    pub fn bind_all<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> String {
        values.into_iter().map(|v| self.bind(v)).collect::<Vec<_>>().join(", ")
    }

    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_from_one_in_binding_order() {
        let mut p = Params::new();
        assert_eq!(p.bind(7_i64), "$1");
        assert_eq!(p.bind_all([1_i64, 2, 3]), "$2, $3, $4");
        assert_eq!(p.bind("x"), "$5");
        assert_eq!(p.into_values().len(), 5);
    }
}
