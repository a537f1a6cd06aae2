//! Deadlines from durations of any size, with one policy for the whole
//! crate: a duration is taken as a year at most. Adding `Duration::MAX` to
//! the clock would overflow (and panic); a year is as good as never for a
//! request, a page or a shutdown, and stays far from the clock's limits.

use std::time::Duration;

use tokio::time::Instant;

/// The longest any duration is taken to be: a year.
pub(crate) const LONGEST: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `duration` capped at [`LONGEST`].
pub(crate) fn capped(duration: Duration) -> Duration {
    duration.min(LONGEST)
}

/// The instant `duration` after `now`, the duration capped at [`LONGEST`].
pub(crate) fn after(now: Instant, duration: Duration) -> Instant {
    now + capped(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_duration_makes_a_deadline_at_most_a_year_away() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::ZERO), now);
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(after(now, Duration::MAX), now + LONGEST);
        assert_eq!(after(now, LONGEST * 2), now + LONGEST);
    }
}
