//! Adjustments, compare-and-set expectations and quantity history on the wire.

use super::{decimal, no_duplicates, quantity, reservations::timestamp, sku, source_code};
use crate::{
    domain::{
        Quantity,
        stock_count::{ChangeReason, Delta, IdempotencyKey, check_note},
    },
    grpc::pb,
    repo::{
        adjustments::{Adjusted, AdjustmentRequest},
        history::{HistoryFilter, QuantityChange},
    },
    validation::Violations,
};

/// Parses an AdjustSourceItems request, recording every bad field.
pub(crate) fn adjustment_request(
    v: &mut Violations,
    req: &pb::AdjustSourceItemsRequest,
) -> Option<AdjustmentRequest> {
    let key = v.check(
        "idempotency_key",
        IdempotencyKey::parse(&req.idempotency_key),
    );
    let reason = adjustment_reason(v, req.reason);
    let note = v.check("note", check_note(&req.note));
    if !super::batch_fits(v, "lines", req.lines.len()) {
        // Too long to read its entries: the one violation names the list.
        return None;
    }
    no_duplicates(v, req.lines.iter().map(|l| (&l.source_code, &l.sku)), |i| {
        format!("lines[{i}]")
    });
    let deltas: Vec<Option<Delta>> = req
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| delta(v, i, line))
        .collect();
    let deltas: Option<Vec<Delta>> = deltas.into_iter().collect();
    note?;
    Some(AdjustmentRequest {
        key: key?,
        reason: reason?,
        note: req.note.clone(),
        deltas: deltas?,
    })
}

fn adjustment_reason(v: &mut Violations, value: i32) -> Option<ChangeReason> {
    use pb::AdjustmentReason as R;
    let reason = match R::try_from(value) {
        Ok(R::Received) => ChangeReason::Received,
        Ok(R::Damaged) => ChangeReason::Damaged,
        Ok(R::Shrinkage) => ChangeReason::Shrinkage,
        Ok(R::Promotion) => ChangeReason::Promotion,
        Ok(R::Correction) => ChangeReason::Correction,
        Ok(R::Other) => ChangeReason::Other,
        Ok(R::Unspecified) | Err(_) => {
            v.add("reason", "must be one of the adjustment reasons");
            return None;
        }
    };
    Some(reason)
}

fn delta(v: &mut Violations, i: usize, line: &pb::SourceItemDelta) -> Option<Delta> {
    let source = source_code(v, &format!("lines[{i}].source_code"), &line.source_code);
    let sku = sku(v, &format!("lines[{i}].sku"), &line.sku);
    let field = format!("lines[{i}].delta");
    let delta = quantity(v, &field, &line.delta).filter(|d| {
        let nonzero = !d.get().is_zero();
        if !nonzero {
            v.add(&field, "must not be zero");
        }
        nonzero
    });
    Some(Delta {
        source: source?,
        sku: sku?,
        delta: delta?,
    })
}

/// Each item's expected quantity, when it gives one, recording bad ones.
pub(crate) fn expected_quantities(
    v: &mut Violations,
    items: &[pb::SourceItem],
) -> Vec<Option<Quantity>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = item.expected_quantity.as_deref()?;
            quantity(v, &format!("items[{i}].expected_quantity"), text)
        })
        .collect()
}

/// An adjustment's answer for the wire.
pub(crate) fn adjusted_to_pb(adjusted: Adjusted) -> pb::AdjustSourceItemsResponse {
    pb::AdjustSourceItemsResponse {
        items: adjusted
            .items
            .into_iter()
            .map(|item| pb::AdjustedSourceItem {
                source_code: item.source.to_string(),
                sku: item.sku.to_string(),
                quantity_after: decimal(item.quantity_after),
            })
            .collect(),
        replayed: adjusted.replayed,
    }
}

/// Which history a listing asks for: a source, a SKU, or both.
pub(crate) fn history_filter(
    v: &mut Violations,
    req: &pb::ListSourceItemHistoryRequest,
) -> Option<HistoryFilter> {
    let given = |text: &str| !text.is_empty();
    match (given(&req.source_code), given(&req.sku)) {
        (true, true) => {
            let source = source_code(v, "source_code", &req.source_code);
            let sku = sku(v, "sku", &req.sku);
            Some(HistoryFilter::Item(source?, sku?))
        }
        (true, false) => source_code(v, "source_code", &req.source_code).map(HistoryFilter::Source),
        (false, true) => sku(v, "sku", &req.sku).map(HistoryFilter::Sku),
        (false, false) => {
            v.add("source_code", "give a source_code, a sku, or both");
            None
        }
    }
}

/// One history row for the wire.
pub(crate) fn change_to_pb(change: QuantityChange) -> pb::SourceItemChange {
    pb::SourceItemChange {
        id: change.id,
        source_code: change.source_code,
        sku: change.sku,
        quantity_before: change.quantity_before.map(decimal),
        quantity_after: change.quantity_after.map(decimal),
        reason: change.reason,
        note: change.note,
        caller: change.caller,
        reference: change.reference,
        changed_at: Some(timestamp(change.changed_at)),
    }
}
