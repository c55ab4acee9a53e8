//! The lines waiting to be sent, in the order they were typed, one on the wire at a time.
//!
//! A line whose send was not confirmed (the connection dropped, or no ack in time) goes back
//! to the head and is sent again after the reconnection under the **same** client meta id:
//! the server stores a message once per (sender, meta id) and acknowledges a resend with the
//! first one's id, so the line is neither lost nor stored twice.

use std::collections::VecDeque;

use qun_client::Target;

/// One typed line on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// The client meta id it goes up with, kept across resends.
    pub(crate) meta_id: u64,
    /// Where it was typed (a later `/switch` does not move it).
    pub(crate) to: Target,
    pub(crate) text: String,
}

/// Lines waiting, and the one sent whose answer is awaited.
#[derive(Debug)]
pub(crate) struct Outbox {
    waiting: VecDeque<Outgoing>,
    /// The line on the wire, with the generation of the connection it went out on.
    in_flight: Option<(Outgoing, u64)>,
    capacity: usize,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox { waiting: VecDeque::new(), in_flight: None, capacity }
    }

    /// Queues a line; gives it back when `capacity` lines wait already.
    pub(crate) fn push(&mut self, line: Outgoing) -> Result<(), Outgoing> {
        if self.len() >= self.capacity {
            return Err(line);
        }
        self.waiting.push_back(line);
        Ok(())
    }

    /// The next line to send on connection `generation`, if none is on the wire.
    pub(crate) fn start_next(&mut self, generation: u64) -> Option<Outgoing> {
        if self.in_flight.is_some() {
            return None;
        }
        let next = self.waiting.pop_front()?;
        self.in_flight = Some((next.clone(), generation));
        Some(next)
    }

    /// The line on the wire under `meta_id`, now answered, with its connection's generation.
    pub(crate) fn answered(&mut self, meta_id: u64) -> Option<(Outgoing, u64)> {
        match &self.in_flight {
            Some((line, _)) if line.meta_id == meta_id => self.in_flight.take(),
            _ => None,
        }
    }

    /// Puts an unconfirmed line back at the head, to go again first.
    pub(crate) fn retry_first(&mut self, line: Outgoing) {
        self.waiting.push_front(line);
    }

    /// Lines waiting or on the wire.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len() + usize::from(self.in_flight.is_some())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything not yet confirmed (the chat is ending): the line on the wire, whose fate is
    /// unknown, and the lines never sent, in typing order.
    pub(crate) fn take_all(&mut self) -> (Option<Outgoing>, Vec<Outgoing>) {
        (self.in_flight.take().map(|(line, _)| line), self.waiting.drain(..).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(meta_id: u64) -> Outgoing {
        Outgoing { meta_id, to: Target::Group("42".into()), text: format!("line {meta_id}") }
    }

    #[test]
    fn one_on_the_wire_at_a_time_in_typing_order() {
        let mut outbox = Outbox::new(10);
        outbox.push(line(1)).unwrap();
        outbox.push(line(2)).unwrap();
        assert_eq!(outbox.start_next(1), Some(line(1)));
        assert_eq!(outbox.start_next(1), None, "line 1 is still on the wire");
        assert_eq!(outbox.answered(2), None, "not the line on the wire");
        assert_eq!(outbox.answered(1), Some((line(1), 1)));
        assert_eq!(outbox.answered(1), None, "answered once");
        assert_eq!(outbox.start_next(1), Some(line(2)));
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn an_unconfirmed_line_goes_again_first_with_its_meta_id() {
        let mut outbox = Outbox::new(10);
        outbox.push(line(1)).unwrap();
        outbox.push(line(2)).unwrap();
        let (sent, generation) = outbox.start_next(1).and_then(|l| outbox.answered(l.meta_id)).unwrap();
        assert_eq!(generation, 1);
        outbox.retry_first(sent);
        assert_eq!(outbox.start_next(2), Some(line(1)));
        assert_eq!(outbox.take_all(), (Some(line(1)), vec![line(2)]));
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_full_outbox_gives_the_line_back() {
        let mut outbox = Outbox::new(2);
        outbox.push(line(1)).unwrap();
        outbox.start_next(1);
        outbox.push(line(2)).unwrap();
        assert_eq!(outbox.push(line(3)), Err(line(3)), "one on the wire and one waiting");
    }
}
