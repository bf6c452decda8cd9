//! Reading a large JSON array one element at a time.
//!
//! A batch of 10,000 rules parsed as one `serde_json::Value` is 10,000 trees built,
//! all alive at once, then freed together; the allocator work (and the freeing)
//! cost more than the checks and the compile. Read element by element, each tree
//! is dropped before the next is built and the same memory serves them all.

use std::fmt;

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;

/// Calls `each(index, element)` for every element of the JSON array `text`, in
/// order, stopping at the first `Err` of `each`. `Err(Ok(e))` is `each`'s error,
/// `Err(Err(e))` says `text` is not a JSON array.
pub fn for_each_element<E>(
    text: &str,
    mut each: impl FnMut(usize, Value) -> Result<(), E>,
) -> Result<(), Result<E, serde_json::Error>> {
    // `each`'s error is kept aside: stopping early leaves the array unfinished,
    // which serde_json reports as a syntax error that must not hide it.
    struct Elements<'f, F, E> {
        each: &'f mut F,
        failed: &'f mut Option<E>,
    }

    impl<'de, E, F: FnMut(usize, Value) -> Result<(), E>> Visitor<'de> for Elements<'_, F, E> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while let Some(v) = seq.next_element::<Value>()? {
                if let Err(e) = (self.each)(index, v) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
                index += 1;
            }
            Ok(())
        }
    }

    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_seq(Elements { each: &mut each, failed: &mut failed }).and_then(|()| de.end());
    match (failed, parsed) {
        (Some(e), _) => Err(Ok(e)),
        (None, Err(e)) => Err(Err(e)),
        (None, Ok(())) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_in_order_then_the_first_error() {
        let mut seen = Vec::new();
        let r: Result<(), Result<(), _>> = for_each_element("[1, {\"a\": 2}, [3]]", |i, v| {
            seen.push((i, v.to_string()));
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(seen, vec![(0, "1".to_owned()), (1, "{\"a\":2}".to_owned()), (2, "[3]".to_owned())]);
        let r = for_each_element("[1, 2, 3]", |i, _| if i == 1 { Err("two") } else { Ok(()) });
        assert_eq!(r.unwrap_err().unwrap(), "two");
        for bad in ["{}", "[1,", "[1] 2", "", "[1,]"] {
            let r = for_each_element(bad, |_, _| Ok::<(), ()>(()));
            assert!(matches!(r, Err(Err(_))), "{bad}");
        }
    }
}
