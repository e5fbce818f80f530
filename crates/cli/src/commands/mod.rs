pub mod embed;
pub mod head;
