mod lookup;
mod write;
