//! The loyalty programme: how many points a purchase earns, when points
//! expire, and the tiers.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::customer::CustomerType;
use crate::error::FieldErrors;
use crate::users::Role;

/// When earned points expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointsExpiry {
    /// Points never expire.
    Never,
    /// Points expire this many calendar months after the purchase that earned them.
    Months(u32),
}

/// A tier, reached by points *earned* in the rolling window (not by balance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Name shown to people (`Bronze`, `Silver`, `Gold`).
    pub name: String,
    /// Points earned in the window needed to reach this tier.
    pub min_points: i64,
    /// Earning multiplier of the tier (1.5 = 50% more points).
    pub multiplier: Decimal,
}

/// The programme's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoyaltyProgram {
    /// ISO 4217 currency of purchases (`IDR`); other currencies are refused.
    pub currency: String,
    /// Spend that earns one point (`10000` = 1 point per Rp 10,000), before multipliers.
    pub spend_per_point: Decimal,
    /// Purchases below this amount earn nothing.
    pub min_spend: Decimal,
    /// Earning multiplier per customer type (missing types: 1).
    pub type_multipliers: BTreeMap<CustomerType, Decimal>,
    /// Tiers, any order; the highest one reached applies. The lowest should have `min_points` 0.
    pub tiers: Vec<Tier>,
    /// Rolling window for tiers, in days (default 365).
    pub tier_window_days: u32,
    /// When points expire (default 12 months).
    pub expiry: PointsExpiry,
    /// Caps on manual earns and adjustments, per role of the actor.
    pub manual_limits: ManualLimits,
}

/// Caps on the manual point operations (earn, adjust) of one kind of actor.
/// `None` is no cap; `Some(0)` forbids the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManualCaps {
    /// Most points one manual earn may add.
    pub earn_per_operation: Option<i64>,
    /// Most points one adjustment may move, either way.
    pub adjust_per_operation: Option<i64>,
    /// Most manual points (earns and positive adjustments, by anyone) a
    /// customer may have received in the last 24 hours, this operation
    /// included.
    pub per_customer_per_day: Option<i64>,
}

/// Who may mint how many points by hand: manual earns and adjustments are
/// money, so each role has caps per operation and per customer per day.
///
/// Defaults: a cashier earns at most 10,000 points per call and cannot
/// adjust; a manager earns or adjusts at most 100,000 per call; a customer
/// receives at most 50,000 manual points a day from cashiers and 500,000
/// from managers; an analyst mints nothing; an admin has no cap. Requests
/// without an actor (code of the embedding application) get the
/// `unattributed` caps, a manager's by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManualLimits {
    /// Caps per role; a role missing here gets `unattributed`.
    pub roles: BTreeMap<Role, ManualCaps>,
    /// Caps of requests that name no actor.
    pub unattributed: ManualCaps,
}

impl Default for ManualLimits {
    fn default() -> Self {
        let manager = ManualCaps {
            earn_per_operation: Some(100_000),
            adjust_per_operation: Some(100_000),
            per_customer_per_day: Some(500_000),
        };
        let roles = BTreeMap::from([
            (Role::Admin, ManualCaps::default()),
            (Role::Manager, manager),
            (
                Role::Cashier,
                ManualCaps {
                    earn_per_operation: Some(10_000),
                    adjust_per_operation: Some(0),
                    per_customer_per_day: Some(50_000),
                },
            ),
            (
                Role::Analyst,
                ManualCaps {
                    earn_per_operation: Some(0),
                    adjust_per_operation: Some(0),
                    per_customer_per_day: Some(0),
                },
            ),
        ]);
        Self {
            roles,
            unattributed: manager,
        }
    }
}

impl ManualLimits {
    /// The caps of an actor's role (or of unattributed requests).
    pub fn caps_for(&self, role: Option<Role>) -> ManualCaps {
        role.and_then(|r| self.roles.get(&r).copied())
            .unwrap_or(self.unattributed)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let caps = self
            .roles
            .iter()
            .map(|(r, c)| (format!("manual_limits.roles.{}", r.as_str()), c))
            .chain(std::iter::once((
                "manual_limits.unattributed".to_string(),
                &self.unattributed,
            )));
        for (path, c) in caps {
            for (name, v) in [
                ("earn_per_operation", c.earn_per_operation),
                ("adjust_per_operation", c.adjust_per_operation),
                ("per_customer_per_day", c.per_customer_per_day),
            ] {
                if v.is_some_and(|v| v < 0) {
                    errors.push(format!("{path}.{name}"), "min", "must be 0 or more");
                }
            }
        }
    }
}

impl Default for LoyaltyProgram {
    fn default() -> Self {
        Self {
            currency: "IDR".into(),
            spend_per_point: Decimal::from(10_000),
            min_spend: Decimal::ZERO,
            type_multipliers: BTreeMap::new(),
            tiers: vec![
                Tier {
                    name: "Bronze".into(),
                    min_points: 0,
                    multiplier: Decimal::ONE,
                },
                Tier {
                    name: "Silver".into(),
                    min_points: 1_000,
                    multiplier: Decimal::new(125, 2),
                },
                Tier {
                    name: "Gold".into(),
                    min_points: 5_000,
                    multiplier: Decimal::new(15, 1),
                },
            ],
            tier_window_days: 365,
            expiry: PointsExpiry::Months(12),
            manual_limits: ManualLimits::default(),
        }
    }
}

impl LoyaltyProgram {
    /// Checks the programme; every problem is reported.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push("currency", "currency", "an ISO 4217 code such as IDR");
        }
        if self.spend_per_point <= Decimal::ZERO {
            errors.push("spend_per_point", "min", "must be more than 0");
        }
        if self.min_spend < Decimal::ZERO {
            errors.push("min_spend", "min", "must be 0 or more");
        }
        if self.type_multipliers.values().any(|m| *m < Decimal::ZERO)
            || self.tiers.iter().any(|t| t.multiplier < Decimal::ZERO)
        {
            errors.push("multiplier", "min", "multipliers must be 0 or more");
        }
        if self.tier_window_days == 0 {
            errors.push("tier_window_days", "min", "must be at least 1");
        }
        self.manual_limits.validate(&mut errors);
        errors.finish()
    }

    /// The tier reached with `earned` points in the window (`None` if no tier applies).
    pub fn tier_for(&self, earned: i64) -> Option<&Tier> {
        self.tiers
            .iter()
            .filter(|t| t.min_points <= earned)
            .max_by_key(|t| t.min_points)
    }

    /// Points a purchase of `amount` earns: `amount / spend_per_point x type
    /// multiplier x tier multiplier`, rounded down once at the end; 0 below
    /// `min_spend`.
    pub fn points_for(
        &self,
        amount: Decimal,
        customer_type: CustomerType,
        tier: Option<&Tier>,
    ) -> i64 {
        if amount < self.min_spend
            || amount <= Decimal::ZERO
            || self.spend_per_point <= Decimal::ZERO
        {
            return 0;
        }
        let type_mult = self
            .type_multipliers
            .get(&customer_type)
            .copied()
            .unwrap_or(Decimal::ONE);
        let tier_mult = tier.map_or(Decimal::ONE, |t| t.multiplier);
        let raw = amount
            .checked_div(self.spend_per_point)
            .and_then(|p| p.checked_mul(type_mult))
            .and_then(|p| p.checked_mul(tier_mult))
            .unwrap_or(Decimal::ZERO);
        raw.floor().to_i64().unwrap_or(0).max(0)
    }

    /// When points earned at `earned_at` expire.
    pub fn expires_at(&self, earned_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.expiry {
            PointsExpiry::Never => None,
            PointsExpiry::Months(m) => earned_at.checked_add_months(Months::new(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_ten_thousand_rounded_down_once() {
        let p = LoyaltyProgram::default();
        assert_eq!(
            p.points_for(Decimal::from(99_999), CustomerType::Retail, None),
            9
        );
        assert_eq!(
            p.points_for(Decimal::from(9_999), CustomerType::Retail, None),
            0
        );
        let gold = p.tier_for(5_000).cloned();
        assert_eq!(gold.as_ref().map(|t| t.name.as_str()), Some("Gold"));
        // 15 x 1.5 = 22.5 -> 22 (not 1.5 x floor(15)).
        assert_eq!(
            p.points_for(Decimal::from(159_999), CustomerType::Retail, gold.as_ref()),
            23
        );
        assert_eq!(
            p.points_for(Decimal::from(150_000), CustomerType::Retail, gold.as_ref()),
            22
        );
    }

    #[test]
    fn min_spend_and_type_multiplier() {
        let mut p = LoyaltyProgram {
            min_spend: Decimal::from(50_000),
            ..LoyaltyProgram::default()
        };
        p.type_multipliers
            .insert(CustomerType::Wholesale, Decimal::new(5, 1));
        assert_eq!(
            p.points_for(Decimal::from(40_000), CustomerType::Retail, None),
            0
        );
        assert_eq!(
            p.points_for(Decimal::from(100_000), CustomerType::Wholesale, None),
            5
        );
        assert_eq!(p.tier_for(999).map(|t| t.name.as_str()), Some("Bronze"));
        assert_eq!(p.tier_for(1_000).map(|t| t.name.as_str()), Some("Silver"));
    }

    #[test]
    fn bad_programme_is_rejected_with_every_field() {
        let p = LoyaltyProgram {
            currency: "rupiah".into(),
            spend_per_point: Decimal::ZERO,
            ..LoyaltyProgram::default()
        };
        assert_eq!(p.validate().expect_err("invalid").field_errors().len(), 2);
    }
}
