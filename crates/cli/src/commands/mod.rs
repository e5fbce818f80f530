pub mod augment;
pub mod bench;
pub mod compare;
pub mod embed;
pub mod finetune;
pub mod head;
pub mod predict;
pub mod zero_shot;
