//! The PromQL editor's logic, apart from its component so it can be tested natively:
//! highlighting, completion contexts and candidates, and the texts shown beside them.

pub mod complete;
pub mod docs;
pub mod highlight;
