//! Salable quantities and quantity checks for the wire.

use super::{decimal, iso_date};
use crate::{
    domain::{PlanLine, QuantityCheck, Restock, SalableQuantity, Sku, Violation},
    grpc::pb,
};

/// One SKU's salable quantity.
pub(crate) fn salable_to_pb(sku: &Sku, s: SalableQuantity) -> pb::SalableQuantity {
    pb::SalableQuantity {
        sku: sku.as_str().to_owned(),
        salable_qty: decimal(s.salable_qty),
        unlimited: s.unlimited,
        is_salable: s.is_salable,
        manage_stock: s.manage_stock,
        assigned: s.assigned,
        only_x_left: s.only_x_left.map(decimal),
        restock: s.restock.map(restock_to_pb),
    }
}

fn restock_to_pb(r: Restock) -> pb::Restock {
    pb::Restock {
        date: iso_date(r.date),
        qty: r.qty.map(decimal),
    }
}

/// A rule's verdict as a customer-facing message.
pub(crate) fn message_to_pb(violation: &Violation) -> pb::Message {
    pb::Message {
        code: violation.code.as_str().to_owned(),
        text: violation.message(),
        params: violation
            .params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

fn plan_line_to_pb(line: PlanLine) -> pb::PlanLine {
    pb::PlanLine {
        source_code: line.source.to_string(),
        priority: line.priority,
        from_on_hand: decimal(line.from_on_hand),
        backordered: decimal(line.backordered),
        restock: line.restock_date.map(|date| pb::Restock {
            date: iso_date(date),
            qty: line.restock_qty.map(decimal),
        }),
    }
}

/// One line's verdict.
pub(crate) fn line_check_to_pb(sku: &Sku, quantity: String, check: QuantityCheck) -> pb::LineCheck {
    pb::LineCheck {
        sku: sku.as_str().to_owned(),
        quantity,
        is_salable: check.is_salable,
        errors: check.violations.iter().map(message_to_pb).collect(),
        notices: check.notices.iter().map(message_to_pb).collect(),
        backordered_qty: decimal(check.backordered_qty),
        plan: check.plan.into_iter().map(plan_line_to_pb).collect(),
        salable: Some(salable_to_pb(sku, check.salable)),
    }
}
