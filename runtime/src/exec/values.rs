//! The values of every field of one packet, read once after parsing, then
//! updated by rewrites. An absent header's fields read as 0; its presence
//! bit ([`Field::Valid`]) is what tables test.

use dpuc_ir::{Field, FieldRef, FIELD_COUNT};

/// Field values of the outer and the encapsulated packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldValues {
    outer: [u128; FIELD_COUNT],
    inner: [u128; FIELD_COUNT],
}

impl Default for FieldValues {
    fn default() -> Self {
        FieldValues {
            outer: [0; FIELD_COUNT],
            inner: [0; FIELD_COUNT],
        }
    }
}

impl FieldValues {
    /// The value of `f` (0 when its header is absent).
    pub fn get(&self, f: FieldRef) -> u128 {
        let layer = if f.inner { &self.inner } else { &self.outer };
        layer[f.field.index()]
    }

    /// Sets `f`, masked to its width.
    pub fn set(&mut self, f: FieldRef, value: u128) {
        let layer = if f.inner {
            &mut self.inner
        } else {
            &mut self.outer
        };
        layer[f.field.index()] = value & f.field.max_value();
    }

    /// Sets an outer field.
    pub fn set_outer(&mut self, field: Field, value: u128) {
        self.set(FieldRef::outer(field), value);
    }

    /// Sets an inner field.
    pub fn set_inner(&mut self, field: Field, value: u128) {
        self.set(FieldRef { inner: true, field }, value);
    }
}
