//! What systemd says of a unit: the properties a run follows, as far as
//! they are known.

use std::collections::HashMap;
use zbus::OwnedVariant;

/// Unit and service properties, as far as they are known. Filled from
/// `PropertiesChanged` (only what changed) or read whole by
/// [`Bus::outcome`]. Timestamps are CLOCK_REALTIME µs, 0 for never.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitProps {
    pub active_state: Option<String>,
    pub sub_state: Option<String>,
    /// The service's `Result`: success, exit-code, signal, timeout,
    /// oom-kill, exec-condition, ...
    pub result: Option<String>,
    pub condition_result: Option<bool>,
    /// What the plugin sent with sd_notify `STATUS=`.
    pub status_text: Option<String>,
    pub exec_main_status: Option<i32>,
    /// How the main process ended (`CLD_*`, see [`classify`](super::classify())).
    pub exec_main_code: Option<i32>,
    pub inactive_exit_us: Option<u64>,
    pub inactive_enter_us: Option<u64>,
    pub exec_main_start_us: Option<u64>,
    pub exec_main_exit_us: Option<u64>,
    /// Hex, 32 characters; empty before the first activation.
    pub invocation_id: Option<String>,
}

impl UnitProps {
    /// Takes over every property of `changed` this type knows.
    pub fn apply(&mut self, changed: &HashMap<String, OwnedVariant>) {
        for (name, value) in changed {
            let string = || <&str>::try_from(value).ok().map(str::to_owned);
            let u64_ = || u64::try_from(value).ok();
            match name.as_str() {
                "ActiveState" => self.active_state = string(),
                "SubState" => self.sub_state = string(),
                "Result" => self.result = string(),
                "ConditionResult" => self.condition_result = bool::try_from(value).ok(),
                "StatusText" => self.status_text = string(),
                "ExecMainStatus" => self.exec_main_status = i32::try_from(value).ok(),
                "ExecMainCode" => self.exec_main_code = i32::try_from(value).ok(),
                "InactiveExitTimestamp" => self.inactive_exit_us = u64_(),
                "InactiveEnterTimestamp" => self.inactive_enter_us = u64_(),
                "ExecMainStartTimestamp" => self.exec_main_start_us = u64_(),
                "ExecMainExitTimestamp" => self.exec_main_exit_us = u64_(),
                "InvocationID" => {
                    self.invocation_id = value
                        .try_clone()
                        .ok()
                        .and_then(|v| Vec::<u8>::try_from(v).ok())
                        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
                }
                _ => {}
            }
        }
    }

    /// Every field that is set in `newer` replaces this one's.
    pub fn merge(&mut self, newer: &UnitProps) {
        macro_rules! take {
            ($($field:ident),*) => {
                $( if newer.$field.is_some() { self.$field.clone_from(&newer.$field); } )*
            };
        }
        take!(
            active_state,
            sub_state,
            result,
            condition_result,
            status_text,
            exec_main_status,
            exec_main_code,
            inactive_exit_us,
            inactive_enter_us,
            exec_main_start_us,
            exec_main_exit_us,
            invocation_id
        );
    }

    /// The unit is between leaving `inactive` and coming back: its
    /// ExecCondition or main process runs.
    pub fn is_active(&self) -> bool {
        matches!(
            self.active_state.as_deref(),
            Some("activating" | "active" | "reloading" | "deactivating")
        )
    }

    /// The whole activation (ExecCondition included): from leaving
    /// `inactive` to entering it again, if both happened in that order.
    pub fn duration(&self) -> Option<std::time::Duration> {
        let (start, end) = (self.inactive_exit_us?, self.inactive_enter_us?);
        (start > 0 && end >= start).then(|| std::time::Duration::from_micros(end - start))
    }
}
