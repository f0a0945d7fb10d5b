//! Settings between protobuf and the domain.

use super::{date, iso_date, qty, quantity, too_long};
use crate::{
    domain::{
        BackorderMode, EffectiveItemSettings, EffectiveProductSettings, GlobalSettings,
        ProductSettings, SettingField, SettingLevel, SourceItemSettings,
        settings_patch::{PatchPart, SettingValues, SettingsPatch},
    },
    grpc::pb,
    validation::Violations,
};

/// Parses the values to set and the fields to clear, checked against `level`.
pub(crate) fn patch(
    v: &mut Violations,
    set: Option<&pb::SettingValues>,
    clear: &[i32],
    level: SettingLevel,
) -> SettingsPatch {
    let values = set.map(|s| values(v, s)).unwrap_or_default();
    let clear = if too_long(v, "clear", clear.len()) {
        &[]
    } else {
        clear
    };
    let clear: Vec<SettingField> = clear
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let field = setting_field(*raw);
            if field.is_none() {
                v.add(format!("clear[{i}]"), "is not a known setting");
            }
            field
        })
        .collect();
    let patch = SettingsPatch { set: values, clear };
    for (part, field, error) in patch.check_level(level) {
        let path = match part {
            PatchPart::Set => format!("set.{}", field.name()),
            PatchPart::Clear => {
                let i = patch
                    .clear
                    .iter()
                    .position(|f| *f == field)
                    .unwrap_or_default();
                format!("clear[{i}]")
            }
        };
        v.add(path, error);
    }
    patch
}

fn values(v: &mut Violations, s: &pb::SettingValues) -> SettingValues {
    let mut qty_of = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .and_then(|raw| quantity(v, &format!("set.{name}"), raw))
    };
    let out_of_stock_threshold = qty_of("out_of_stock_threshold", &s.out_of_stock_threshold);
    let notify_stock_qty = qty_of("notify_stock_qty", &s.notify_stock_qty);
    let stock_threshold_qty = qty_of("stock_threshold_qty", &s.stock_threshold_qty);
    let min_sale_qty = qty_of("min_sale_qty", &s.min_sale_qty);
    let max_sale_qty = qty_of("max_sale_qty", &s.max_sale_qty);
    let qty_increments = qty_of("qty_increments", &s.qty_increments);
    let restock_qty = qty_of("restock_qty", &s.restock_qty);
    let backorders = s.backorders.and_then(|raw| {
        let mode = backorder_mode(raw);
        if mode.is_none() {
            v.add("set.backorders", "must be NO, ALLOW or ALLOW_NOTIFY");
        }
        mode
    });
    let restock_date = s
        .restock_date
        .as_deref()
        .and_then(|raw| date(v, "set.restock_date", raw));
    SettingValues {
        manage_stock: s.manage_stock,
        backorders,
        out_of_stock_threshold,
        notify_stock_qty,
        stock_threshold_qty,
        min_sale_qty,
        max_sale_qty,
        qty_increments,
        is_qty_decimal: s.is_qty_decimal,
        restock_date,
        restock_qty,
    }
}

/// Reads a wire backorder mode; UNSPECIFIED and unknown numbers are not modes.
pub(crate) fn backorder_mode(raw: i32) -> Option<BackorderMode> {
    match pb::BackorderMode::try_from(raw) {
        Ok(pb::BackorderMode::No) => Some(BackorderMode::No),
        Ok(pb::BackorderMode::Allow) => Some(BackorderMode::Allow),
        Ok(pb::BackorderMode::AllowNotify) => Some(BackorderMode::AllowNotify),
        _ => None,
    }
}

fn backorder_mode_to_pb(mode: BackorderMode) -> i32 {
    let mode = match mode {
        BackorderMode::No => pb::BackorderMode::No,
        BackorderMode::Allow => pb::BackorderMode::Allow,
        BackorderMode::AllowNotify => pb::BackorderMode::AllowNotify,
    };
    mode as i32
}

fn setting_field(raw: i32) -> Option<SettingField> {
    use pb::SettingField as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::ManageStock => SettingField::ManageStock,
        P::Backorders => SettingField::Backorders,
        P::OutOfStockThreshold => SettingField::OutOfStockThreshold,
        P::NotifyStockQty => SettingField::NotifyStockQty,
        P::StockThresholdQty => SettingField::StockThresholdQty,
        P::MinSaleQty => SettingField::MinSaleQty,
        P::MaxSaleQty => SettingField::MaxSaleQty,
        P::QtyIncrements => SettingField::QtyIncrements,
        P::IsQtyDecimal => SettingField::IsQtyDecimal,
        P::RestockDate => SettingField::RestockDate,
        P::RestockQty => SettingField::RestockQty,
    })
}

/// Global settings for the wire (every field present).
pub(crate) fn global_to_pb(g: &GlobalSettings) -> pb::SettingValues {
    pb::SettingValues {
        manage_stock: Some(g.manage_stock),
        backorders: Some(backorder_mode_to_pb(g.backorders)),
        out_of_stock_threshold: Some(qty(g.out_of_stock_threshold)),
        notify_stock_qty: Some(qty(g.notify_stock_qty)),
        stock_threshold_qty: Some(qty(g.stock_threshold_qty)),
        min_sale_qty: Some(qty(g.min_sale_qty)),
        max_sale_qty: Some(qty(g.max_sale_qty)),
        qty_increments: Some(qty(g.qty_increments)),
        ..pb::SettingValues::default()
    }
}

/// Stored product overrides for the wire (absent = use default).
pub(crate) fn product_stored_to_pb(p: &ProductSettings) -> pb::SettingValues {
    pb::SettingValues {
        manage_stock: p.manage_stock,
        backorders: p.backorders.map(backorder_mode_to_pb),
        out_of_stock_threshold: p.out_of_stock_threshold.map(qty),
        notify_stock_qty: p.notify_stock_qty.map(qty),
        stock_threshold_qty: p.stock_threshold_qty.map(qty),
        min_sale_qty: p.min_sale_qty.map(qty),
        max_sale_qty: p.max_sale_qty.map(qty),
        qty_increments: p.qty_increments.map(qty),
        is_qty_decimal: p.is_qty_decimal,
        ..pb::SettingValues::default()
    }
}

/// Effective product settings for the wire.
pub(crate) fn product_effective_to_pb(p: &EffectiveProductSettings) -> pb::SettingValues {
    pb::SettingValues {
        manage_stock: Some(p.manage_stock),
        backorders: Some(backorder_mode_to_pb(p.backorders)),
        out_of_stock_threshold: Some(qty(p.out_of_stock_threshold)),
        notify_stock_qty: Some(qty(p.notify_stock_qty)),
        stock_threshold_qty: Some(qty(p.stock_threshold_qty)),
        min_sale_qty: Some(qty(p.min_sale_qty)),
        max_sale_qty: Some(qty(p.max_sale_qty)),
        qty_increments: Some(qty(p.qty_increments)),
        is_qty_decimal: Some(p.is_qty_decimal),
        ..pb::SettingValues::default()
    }
}

/// Stored source item overrides for the wire.
pub(crate) fn item_stored_to_pb(s: &SourceItemSettings) -> pb::SettingValues {
    pb::SettingValues {
        backorders: s.backorders.map(backorder_mode_to_pb),
        out_of_stock_threshold: s.out_of_stock_threshold.map(qty),
        notify_stock_qty: s.notify_stock_qty.map(qty),
        restock_date: s.restock_date.map(iso_date),
        restock_qty: s.restock_qty.map(qty),
        ..pb::SettingValues::default()
    }
}

/// Effective source item settings for the wire (restock stays absent when unknown).
pub(crate) fn item_effective_to_pb(s: &EffectiveItemSettings) -> pb::SettingValues {
    pb::SettingValues {
        backorders: Some(backorder_mode_to_pb(s.backorders)),
        out_of_stock_threshold: Some(qty(s.out_of_stock_threshold)),
        notify_stock_qty: Some(qty(s.notify_stock_qty)),
        restock_date: s.restock_date.map(iso_date),
        restock_qty: s.restock_qty.map(qty),
        ..pb::SettingValues::default()
    }
}
