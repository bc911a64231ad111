//! Links that duplicate and reorder messages. Commonware's simulated network keeps every
//! link in order and delivers each message at most once; a validator's receivers are wrapped
//! here so that, on a seed, some messages arrive twice and some arrive after the message sent
//! after them.

use super::SplitMix64;
use commonware_p2p::{Message, Receiver};
use commonware_runtime::{Clock, deterministic};
use futures::future::{Either, select};
use std::{collections::VecDeque, fmt, num::NonZeroUsize, time::Duration};

/// How disorderly every link is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Disorder {
    /// Probability that a message is delivered a second time, right after the first.
    pub duplicate: f64,
    /// Probability that a message is held back until the next one on its channel has been
    /// delivered (or [`HELD_AT_MOST`] has passed, if none comes).
    pub reorder: f64,
}

impl Disorder {
    /// Whether the links deliver everything once and in order.
    pub fn is_none(&self) -> bool {
        self.duplicate <= 0.0 && self.reorder <= 0.0
    }
}

/// The longest a held-back message waits for the next one to overtake it.
pub const HELD_AT_MOST: Duration = Duration::from_millis(200);

/// A receiver that delivers some messages twice and some out of order (seeded).
pub struct Disorderly<R: Receiver> {
    inner: R,
    context: deterministic::Context,
    disorder: Disorder,
    rng: SplitMix64,
    /// Messages to deliver before receiving more: duplicates, and a message that was overtaken.
    ready: VecDeque<Message<R::PublicKey>>,
    /// A message held back for the next one to overtake.
    held: Option<Message<R::PublicKey>>,
}

impl<R: Receiver> fmt::Debug for Disorderly<R> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Disorderly")
            .field("disorder", &self.disorder)
            .field("ready", &self.ready.len())
            .field("held", &self.held.is_some())
            .finish()
    }
}

impl<R: Receiver> Disorderly<R> {
    /// Wraps `inner`; `seed` draws which messages are duplicated and held back.
    pub fn new(inner: R, context: deterministic::Context, disorder: Disorder, seed: u64) -> Self {
        Self { inner, context, disorder, rng: SplitMix64::new(seed), ready: VecDeque::new(), held: None }
    }

    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < probability
    }
}

impl<R: Receiver> Receiver for Disorderly<R> {
    type Error = R::Error;
    type PublicKey = R::PublicKey;

    async fn recv(&mut self) -> Result<Message<Self::PublicKey>, Self::Error> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Ok(message);
            }
            // Nothing is taken out of `self` before an await that may be cancelled, so a
            // dropped `recv` loses no message.
            let (message, overtook) = if self.held.is_some() {
                let next = self.inner.recv();
                let timeout = self.context.sleep(HELD_AT_MOST);
                futures::pin_mut!(next, timeout);
                match select(next, timeout).await {
                    Either::Left((Ok(next), _)) => {
                        let held = self.held.take().expect("held");
                        self.ready.push_back(held);
                        (next, true)
                    }
                    // The link failed: what was held comes first (the next call meets the error).
                    Either::Left((Err(_), _)) => return Ok(self.held.take().expect("held")),
                    Either::Right(_) => (self.held.take().expect("held"), true),
                }
            } else {
                (self.inner.recv().await?, false)
            };
            if self.chance(self.disorder.duplicate) {
                self.ready.push_back(message.clone());
            }
            if !overtook && self.ready.is_empty() && self.chance(self.disorder.reorder) {
                self.held = Some(message);
                continue;
            }
            return Ok(message);
        }
    }

    fn capacity(&self) -> NonZeroUsize {
        self.inner.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer as _, ed25519};
    use commonware_runtime::{IoBuf, Runner as _};
    use futures::{StreamExt as _, channel::mpsc};

    /// A receiver over a channel, in order and once, as the simulated network delivers.
    #[derive(Debug)]
    struct InOrder(mpsc::UnboundedReceiver<Message<ed25519::PublicKey>>);

    impl Receiver for InOrder {
        type Error = std::io::Error;
        type PublicKey = ed25519::PublicKey;

        async fn recv(&mut self) -> Result<Message<ed25519::PublicKey>, std::io::Error> {
            self.0.next().await.ok_or_else(|| std::io::Error::other("closed"))
        }

        fn capacity(&self) -> NonZeroUsize {
            NonZeroUsize::MIN
        }
    }

    /// Receives 1,000 numbered messages through a disorderly receiver.
    fn received(disorder: Disorder) -> Vec<u32> {
        deterministic::Runner::seeded(3).start(|context| async move {
            let (sender, receiver) = mpsc::unbounded();
            let peer = ed25519::PrivateKey::from_seed(1).public_key();
            for number in 0..1_000u32 {
                let message = IoBuf::from(number.to_be_bytes().to_vec());
                sender.unbounded_send((peer.clone(), message)).expect("open");
            }
            drop(sender);
            let mut disorderly = Disorderly::new(InOrder(receiver), context, disorder, 7);
            let mut numbers = Vec::new();
            while let Ok((_, message)) = disorderly.recv().await {
                numbers.push(u32::from_be_bytes(message.as_ref().try_into().expect("4 bytes")));
            }
            numbers
        })
    }

    #[test]
    fn some_messages_come_twice_some_late_and_every_one_comes() {
        let orderly = received(Disorder::default());
        assert_eq!(orderly, (0..1_000).collect::<Vec<_>>());

        let numbers = received(Disorder { duplicate: 0.1, reorder: 0.1 });
        let distinct: std::collections::BTreeSet<u32> = numbers.iter().copied().collect();
        assert_eq!(distinct.len(), 1_000, "every message is delivered");
        let duplicates = numbers.len() - 1_000;
        let overtaken = numbers.windows(2).filter(|pair| pair[1] < pair[0]).count();
        assert!((50..150).contains(&duplicates), "{duplicates} duplicates of 1,000 at 10%");
        assert!((50..150).contains(&overtaken), "{overtaken} reorderings of 1,000 at 10%");
    }
}
