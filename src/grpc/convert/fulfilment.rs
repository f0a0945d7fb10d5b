//! Shipments, returns, source selection and consistency reports between protobuf and the
//! repository.

use super::{MAX_BATCH, batch_fits, decimal, no_duplicates, positive_quantity, sku, source_code};
use crate::{
    domain::{
        fulfilment::SourceLine,
        source::GeoPoint,
        source_selection::{Algorithm, Suggestion},
    },
    grpc::pb,
    repo::{
        consistency::{ConsistencySummary, Difference},
        source_selection::LowStockItem,
    },
    validation::Violations,
};

/// Parses lines of SKU, source and positive quantity: 1–1,000, each (SKU, source) once.
pub(crate) fn source_lines<'a>(
    v: &mut Violations,
    field: &str,
    lines: impl ExactSizeIterator<Item = (&'a str, &'a str, &'a str)> + Clone,
) -> Option<Vec<SourceLine>> {
    if !batch_fits(v, field, lines.len()) {
        return None;
    }
    let before = v.len();
    no_duplicates(v, lines.clone().map(|(s, src, _)| (s, src)), |i| {
        format!("{field}[{i}]")
    });
    let parsed: Vec<SourceLine> = lines
        .enumerate()
        .filter_map(|(i, (raw_sku, raw_source, raw_qty))| {
            let sku = sku(v, &format!("{field}[{i}].sku"), raw_sku);
            let source = source_code(v, &format!("{field}[{i}].source_code"), raw_source);
            let quantity = positive_quantity(v, &format!("{field}[{i}].quantity"), raw_qty);
            Some(SourceLine {
                sku: sku?,
                source: source?,
                quantity: quantity?,
            })
        })
        .collect();
    (v.len() == before && parsed.len() <= MAX_BATCH).then_some(parsed)
}

/// Reads the algorithm; unspecified means PRIORITY, the stock's own order.
pub(crate) fn algorithm(v: &mut Violations, raw: i32) -> Option<Algorithm> {
    match pb::SelectionAlgorithm::try_from(raw) {
        Ok(pb::SelectionAlgorithm::Unspecified | pb::SelectionAlgorithm::Priority) => {
            Some(Algorithm::Priority)
        }
        Ok(pb::SelectionAlgorithm::Distance) => Some(Algorithm::Distance),
        Ok(pb::SelectionAlgorithm::FewestSources) => Some(Algorithm::FewestSources),
        Err(_) => {
            v.add("algorithm", "is not a known algorithm");
            None
        }
    }
}

/// Reads the destination; DISTANCE needs one.
pub(crate) fn destination(
    v: &mut Violations,
    algorithm: Option<Algorithm>,
    destination: Option<&pb::Destination>,
) -> Option<Option<GeoPoint>> {
    match destination {
        Some(d) => match GeoPoint::new(d.latitude, d.longitude) {
            Ok(point) => Some(Some(point)),
            Err(errors) => {
                for (field, error) in errors {
                    let name = match field {
                        crate::domain::source::GeoField::Latitude => "latitude",
                        crate::domain::source::GeoField::Longitude => "longitude",
                    };
                    v.add(format!("destination.{name}"), error);
                }
                None
            }
        },
        None if algorithm == Some(Algorithm::Distance) => {
            v.add("destination", "is required for the DISTANCE algorithm");
            None
        }
        None => Some(None),
    }
}

/// A suggestion for the wire.
pub(crate) fn suggestion_to_pb(stock_id: i32, s: &Suggestion) -> pb::SuggestSourcesResponse {
    pb::SuggestSourcesResponse {
        stock_id,
        shippable: s.shippable,
        lines: s
            .lines
            .iter()
            .map(|l| pb::LineSuggestion {
                sku: l.sku.to_string(),
                quantity: decimal(l.quantity),
                picks: l
                    .picks
                    .iter()
                    .map(|p| pb::SourcePick {
                        source_code: p.source.to_string(),
                        deduct: decimal(p.deduct),
                        available: decimal(p.available),
                        backordered: decimal(p.backordered),
                        reason: p.reason.clone(),
                    })
                    .collect(),
                shortage: decimal(l.shortage),
                nothing_to_deduct: l.nothing_to_deduct,
            })
            .collect(),
    }
}

/// A low-stock item for the wire.
pub(crate) fn low_stock_to_pb(item: &LowStockItem) -> pb::LowStockItem {
    pb::LowStockItem {
        source_code: item.source_code.clone(),
        sku: item.sku.clone(),
        quantity: decimal(item.quantity),
        notify_stock_qty: decimal(item.notify_stock_qty),
    }
}

/// A difference for the wire.
pub(crate) fn difference_to_pb(d: Difference) -> pb::ConsistencyReport {
    use pb::consistency_report::Report;
    let report = match d {
        Difference::Order {
            order_id,
            stock_id,
            sku,
            expected,
            actual,
            repaired,
        } => Report::Order(pb::OrderDifference {
            order_id,
            stock_id,
            sku,
            expected: decimal(expected),
            actual: decimal(actual),
            repaired,
        }),
        Difference::Total {
            stock_id,
            sku,
            total,
            ledger,
            repaired,
        } => Report::Total(pb::TotalDifference {
            stock_id,
            sku,
            total: decimal(total),
            ledger: decimal(ledger),
            repaired,
        }),
        Difference::SourceItemCopy {
            stock_id,
            sku,
            repaired,
        } => Report::SourceItemCopy(pb::SourceItemCopyDifference {
            stock_id,
            sku,
            repaired,
        }),
        Difference::ProductSettingsCopy {
            stock_id,
            sku,
            repaired,
        } => Report::ProductSettingsCopy(pb::ProductSettingsCopyDifference {
            stock_id,
            sku,
            repaired,
        }),
    };
    pb::ConsistencyReport {
        report: Some(report),
    }
}

/// The closing summary for the wire.
pub(crate) fn summary_to_pb(s: ConsistencySummary) -> pb::ConsistencyReport {
    pb::ConsistencyReport {
        report: Some(pb::consistency_report::Report::Summary(
            pb::ConsistencySummary {
                differences: s.differences,
                repaired: s.repaired,
            },
        )),
    }
}
