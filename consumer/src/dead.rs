//! `consumer dead list|requeue|purge`.

use anyhow::Context;
use registry::queue::{Connection, DeadLetters, Timeouts};

use crate::config::{Config, DeadAction};

/// Runs one dead-letter command and prints its result.
pub async fn run(config: &Config, action: DeadAction) -> anyhow::Result<()> {
    let conn = Connection::open(&config.redis, Timeouts::INTERACTIVE).context("invalid Redis URL or CA file")?;
    let dead = DeadLetters::new(conn);
    match action {
        DeadAction::List { limit } => {
            let letters = dead.list(limit).await.context("reading the dead-letter list")?;
            for letter in &letters {
                println!("{}", serde_json::to_string(letter)?);
            }
            eprintln!("{} dead letter(s) shown", letters.len());
        }
        DeadAction::Requeue { limit } => {
            let moved = dead
                .requeue(limit.unwrap_or(usize::MAX >> 1))
                .await
                .context("re-queuing dead letters")?;
            println!("re-queued {moved} dead letter(s)");
        }
        DeadAction::Purge => {
            let purged = dead.purge().await.context("purging dead letters")?;
            println!("purged {purged} dead letter(s)");
        }
    }
    Ok(())
}
