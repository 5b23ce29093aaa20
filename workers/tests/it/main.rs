//! The worker runtime driven in-process against a real SQLite store and a
//! scripted OpenAI-compatible model server on loopback: what one worker
//! does with its runs when a lease moves and when it shuts down.

mod runtime;
