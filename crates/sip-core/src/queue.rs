//! Output queues of long-lived objects (transactions, dialogs).

use std::collections::VecDeque;

/// The front of `queue`; once it is empty, its buffer is freed too. A
/// dialog lives as long as its call and a finished transaction for 32 s,
/// while their queues hold something for microseconds: a kept buffer
/// (four messages, about 1.2 KiB) would be most of their memory.
pub(crate) fn pop_releasing<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frees_the_buffer_once_empty() {
        let mut queue: VecDeque<u32> = [1, 2].into_iter().collect();
        assert_eq!(pop_releasing(&mut queue), Some(1));
        assert!(queue.capacity() > 0);
        assert_eq!(pop_releasing(&mut queue), Some(2));
        assert_eq!(queue.capacity(), 0);
        assert_eq!(pop_releasing(&mut queue), None);
    }
}
