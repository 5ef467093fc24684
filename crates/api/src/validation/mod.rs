pub mod messages;
pub mod patterns;
pub struct ValidationError;
pub struct ValidationErrors;
pub trait Validate {}
