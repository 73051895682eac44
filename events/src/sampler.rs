//! Which decisions become spans.
//!
//! ```text
//!  DecisionEvent ─► deny and always_sample_denies? ──yes──┐
//!                    │ no                                  │
//!                    ▼                                     │
//!   trace-id ratio (like OTel's TraceIdRatioBased) ─keep──┤
//!                    │ drop: counted `sampled_out`         ▼
//!                    ▼                      per-node token bucket ─► Keep
//!                  SampledOut                     │ empty: counted `capped`
//!                                                 ▼
//!                                               Capped
//! ```
//!
//! The ratio decision is a function of the trace id alone, so both nodes of a cross-node
//! connection keep or drop it alike, and a kept connection has both halves. The cap protects
//! the exporter (and the collector) from a flood; it is applied on each node on its own, so
//! a capped span can lose one half of a connection: the cap's drops are counted for that
//! reason, and it is sized well above normal rates.

use std::time::Instant;

use verdict_engine::Verdict;

use crate::trace::TraceId;
use crate::{Error, Result};

/// The sampler's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Fraction of allowed connections traced, 0 to 1 (`--allow-sample-rate`).
    pub allow_rate: f64,
    /// Trace every denied connection, whatever `allow_rate` says (`--always-sample-denies`);
    /// when off, denies are sampled at `allow_rate` too.
    pub always_sample_denies: bool,
    /// Spans per second this node exports at most, on average.
    pub max_spans_per_second: u32,
    /// How many spans may go out at once after a quiet spell.
    pub burst: u32,
}

impl SamplerConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`Error::SamplerConfig`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.allow_rate) {
            return Err(Error::SamplerConfig {
                setting: "allow_rate",
                reason: format!("must be within 0..=1, got {}", self.allow_rate),
            });
        }
        if self.max_spans_per_second == 0 || self.burst == 0 {
            return Err(Error::SamplerConfig {
                setting: "max_spans_per_second",
                reason: "the cap and its burst must be at least 1".into(),
            });
        }
        Ok(())
    }
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            allow_rate: 1.0,
            always_sample_denies: true,
            max_spans_per_second: 2000,
            burst: 4000,
        }
    }
}

/// What the sampler did with one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleOutcome {
    /// Export it.
    Keep,
    /// The ratio left it out.
    SampledOut,
    /// The per-node cap was reached.
    Capped,
}

/// The sampler; one per node, owned by the telemetry task.
#[derive(Debug)]
pub struct Sampler {
    config: SamplerConfig,
    threshold: u64,
    tokens: f64,
    refilled: Instant,
}

impl Sampler {
    /// A sampler with `config`.
    ///
    /// # Errors
    /// When `config` is out of range.
    pub fn new(config: SamplerConfig) -> Result<Sampler> {
        config.validate()?;
        Ok(Sampler {
            config,
            threshold: ratio_threshold(config.allow_rate),
            tokens: f64::from(config.burst),
            refilled: Instant::now(),
        })
    }

    /// Decides for one decision of `verdict` on the connection `trace_id`, at `now`.
    pub fn decide(&mut self, trace_id: &TraceId, verdict: Verdict, now: Instant) -> SampleOutcome {
        let always = verdict == Verdict::Deny && self.config.always_sample_denies;
        if !always && !ratio_keeps(self.threshold, trace_id) {
            return SampleOutcome::SampledOut;
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.config.max_spans_per_second))
            .min(f64::from(self.config.burst));
        if self.tokens < 1.0 {
            return SampleOutcome::Capped;
        }
        self.tokens -= 1.0;
        SampleOutcome::Keep
    }
}

/// OTel's TraceIdRatioBased rule: keep when the trace id's last 8 bytes, read big-endian
/// and shifted right by one, are below `rate · 2⁶³`.
fn ratio_threshold(rate: f64) -> u64 {
    if rate >= 1.0 {
        u64::MAX
    } else {
        (rate * (1u64 << 63) as f64) as u64
    }
}

fn ratio_keeps(threshold: u64, trace_id: &TraceId) -> bool {
    if threshold == u64::MAX {
        return true;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id.0[8..16]);
    (u64::from_be_bytes(low) >> 1) < threshold
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(n: u64) -> TraceId {
        let mut b = [0u8; 16];
        // Spread ids over the whole range, like a hash would.
        b[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        TraceId(b)
    }

    fn config(allow_rate: f64, always_sample_denies: bool) -> SamplerConfig {
        SamplerConfig {
            allow_rate,
            always_sample_denies,
            max_spans_per_second: 1_000_000,
            burst: 1_000_000,
        }
    }

    #[test]
    fn ratio_cases() {
        // (case, config, verdict, expected kept out of 10,000, tolerance)
        let cases = [
            (
                "all allows at rate 1",
                config(1.0, true),
                Verdict::Allow,
                10_000,
                0,
            ),
            (
                "no allows at rate 0",
                config(0.0, true),
                Verdict::Allow,
                0,
                0,
            ),
            (
                "a quarter of allows",
                config(0.25, true),
                Verdict::Allow,
                2_500,
                200,
            ),
            (
                "every deny when always",
                config(0.0, true),
                Verdict::Deny,
                10_000,
                0,
            ),
            (
                "denies at the ratio when not always",
                config(0.5, false),
                Verdict::Deny,
                5_000,
                250,
            ),
        ];
        for (case, cfg, verdict, expected, tolerance) in cases {
            let mut s = Sampler::new(cfg).unwrap();
            let now = Instant::now();
            let kept = (0..10_000)
                .filter(|n| s.decide(&id(*n), verdict, now) == SampleOutcome::Keep)
                .count() as i64;
            assert!(
                (kept - expected).abs() <= tolerance,
                "{case}: kept {kept}, expected {expected}±{tolerance}"
            );
        }
    }

    #[test]
    fn two_nodes_agree_on_every_trace() {
        let mut a = Sampler::new(config(0.3, true)).unwrap();
        let mut b = Sampler::new(config(0.3, true)).unwrap();
        let now = Instant::now();
        for n in 0..5_000 {
            assert_eq!(
                a.decide(&id(n), Verdict::Allow, now),
                b.decide(&id(n), Verdict::Allow, now)
            );
        }
    }

    #[test]
    fn the_cap_drops_beyond_the_burst_and_refills_with_time() {
        let mut s = Sampler::new(SamplerConfig {
            allow_rate: 1.0,
            always_sample_denies: true,
            max_spans_per_second: 10,
            burst: 5,
        })
        .unwrap();
        let t0 = Instant::now();
        let outcomes: Vec<_> = (0..7)
            .map(|n| s.decide(&id(n), Verdict::Deny, t0))
            .collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == SampleOutcome::Keep)
                .count(),
            5
        );
        assert_eq!(outcomes[5], SampleOutcome::Capped);
        // 10 per second: 0.3 s later three more fit.
        let later = t0 + Duration::from_millis(300);
        let refilled = (0..4)
            .filter(|n| s.decide(&id(100 + n), Verdict::Allow, later) == SampleOutcome::Keep)
            .count();
        assert_eq!(refilled, 3);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let err = Sampler::new(config(1.5, true)).unwrap_err().to_string();
        assert!(err.contains("allow_rate"), "{err}");
        let err = Sampler::new(SamplerConfig {
            burst: 0,
            ..SamplerConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_spans_per_second"), "{err}");
    }
}
