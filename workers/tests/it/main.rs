//! The worker runtime driven in-process against real stores and loopback
//! servers: what one worker does with its runs when a lease moves and when
//! it shuts down (SQLite, a scripted OpenAI-compatible model), and what the
//! webhook notifier sends and records (SQLite and PostgreSQL, loopback
//! receivers).

mod runtime;
mod webhooks;
