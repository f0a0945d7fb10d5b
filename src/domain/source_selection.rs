//! Source selection (DOMAIN §5): which sources should ship an order's lines, and how much each.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::{
    ids::{Sku, SourceCode},
    plan::Room,
    source::GeoPoint,
};

/// How sources are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Stock link priority.
    Priority,
    /// Great-circle distance from the destination; sources without coordinates last.
    Distance,
    /// As few sources as possible for the whole order, then priority.
    FewestSources,
}

/// A source item that may ship a SKU: enabled, in stock, linked to the order's stock.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The source.
    pub source: SourceCode,
    /// Its link priority.
    pub priority: u32,
    /// Its coordinates, if known.
    pub location: Option<GeoPoint>,
    /// What it holds (may be negative after backordered shipments).
    pub on_hand: Decimal,
    /// How far below zero it may still go; `None` is no limit, `Some(0)` no backorders.
    pub room: Room,
}

/// One source's share of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// The source.
    pub source: SourceCode,
    /// Units to deduct from it.
    pub deduct: Decimal,
    /// Units it holds that can ship without going below zero.
    pub available: Decimal,
    /// Of `deduct`, the units that take it below zero.
    pub backordered: Decimal,
    /// Why it was picked, for people.
    pub reason: String,
}

/// The suggestion for one line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSuggestion {
    /// The product.
    pub sku: Sku,
    /// Units to ship.
    pub quantity: Decimal,
    /// Sources in the order they should ship.
    pub picks: Vec<Pick>,
    /// Units no source can ship.
    pub shortage: Decimal,
    /// True when the product's stock is not managed: the line ships from any enabled source of
    /// the stock with nothing to deduct, so it has no picks and no shortage.
    pub nothing_to_deduct: bool,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Per line, in request order.
    pub lines: Vec<LineSuggestion>,
    /// True when nothing is short.
    pub shippable: bool,
}

/// Suggests sources for `lines`; `candidates` lists, per SKU, the source items that may ship it.
/// Lines of `unmanaged` SKUs plan no deduction and take no part in ranking the sources.
pub fn suggest(
    algorithm: Algorithm,
    lines: &[(Sku, Decimal)],
    candidates: &BTreeMap<Sku, Vec<Candidate>>,
    unmanaged: &BTreeSet<Sku>,
    destination: Option<GeoPoint>,
) -> Suggestion {
    let managed: Vec<(Sku, Decimal)> = lines
        .iter()
        .filter(|(sku, _)| !unmanaged.contains(sku))
        .cloned()
        .collect();
    let ranking = rank(algorithm, &managed, candidates, destination);
    let lines: Vec<LineSuggestion> = lines
        .iter()
        .map(|(sku, qty)| {
            if unmanaged.contains(sku) {
                return nothing_to_deduct(sku, *qty);
            }
            let mut options: Vec<&Candidate> = candidates
                .get(sku)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            options.sort_by_key(|c| ranking.position(&c.source));
            allocate(sku, *qty, &options, &ranking)
        })
        .collect();
    let shippable = lines.iter().all(|l| l.shortage.is_zero());
    Suggestion { lines, shippable }
}

/// An unmanaged product ships from any enabled source of the stock without a deduction.
fn nothing_to_deduct(sku: &Sku, qty: Decimal) -> LineSuggestion {
    LineSuggestion {
        sku: sku.clone(),
        quantity: qty,
        picks: Vec::new(),
        shortage: Decimal::ZERO,
        nothing_to_deduct: true,
    }
}

/// Sources in preference order, with the reason each stands where it does.
struct Ranking {
    order: Vec<(SourceCode, String)>,
}

impl Ranking {
    fn position(&self, source: &SourceCode) -> usize {
        self.order
            .iter()
            .position(|(s, _)| s == source)
            .unwrap_or(usize::MAX)
    }

    fn reason(&self, source: &SourceCode) -> &str {
        self.order
            .iter()
            .find(|(s, _)| s == source)
            .map_or("", |(_, r)| r.as_str())
    }
}

fn rank(
    algorithm: Algorithm,
    lines: &[(Sku, Decimal)],
    candidates: &BTreeMap<Sku, Vec<Candidate>>,
    destination: Option<GeoPoint>,
) -> Ranking {
    let mut sources: BTreeMap<SourceCode, &Candidate> = BTreeMap::new();
    for candidate in candidates.values().flatten() {
        sources.entry(candidate.source.clone()).or_insert(candidate);
    }
    let mut all: Vec<&Candidate> = sources.into_values().collect();
    all.sort_by(|a, b| (a.priority, &a.source).cmp(&(b.priority, &b.source)));
    let order = match algorithm {
        Algorithm::Priority => all
            .iter()
            .map(|c| (c.source.clone(), format!("link priority {}", c.priority)))
            .collect(),
        Algorithm::Distance => by_distance(&all, destination),
        Algorithm::FewestSources => fewest_sources(&all, lines, candidates),
    };
    Ranking { order }
}

fn by_distance(all: &[&Candidate], destination: Option<GeoPoint>) -> Vec<(SourceCode, String)> {
    let mut measured: Vec<(Option<f64>, &Candidate)> = all
        .iter()
        .map(|c| {
            (
                c.location
                    .zip(destination)
                    .map(|(a, b)| great_circle_km(a, b)),
                *c,
            )
        })
        .collect();
    // Stable sort keeps priority order among equals and among sources without coordinates.
    measured.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    measured
        .into_iter()
        .map(|(km, c)| {
            let reason = match km {
                Some(km) => format!("{km:.1} km from the destination"),
                None => format!("no coordinates; link priority {}", c.priority),
            };
            (c.source.clone(), reason)
        })
        .collect()
}

/// Greedy set cover: take the source that can ship the most remaining lines in full (then the
/// most units, then the best priority), until no source adds anything.
fn fewest_sources(
    all: &[&Candidate],
    lines: &[(Sku, Decimal)],
    candidates: &BTreeMap<Sku, Vec<Candidate>>,
) -> Vec<(SourceCode, String)> {
    let mut need: Vec<(Sku, Decimal)> = lines.to_vec();
    let mut order = Vec::new();
    let mut left: Vec<&Candidate> = all.to_vec();
    loop {
        let best = left
            .iter()
            .enumerate()
            .map(|(i, c)| (i, coverage(&c.source, &need, candidates)))
            .filter(|(_, (_, units))| *units > Decimal::ZERO)
            .max_by(|(i, a), (j, b)| a.cmp(b).then(j.cmp(i)));
        let Some((index, (full, _))) = best else {
            break;
        };
        let chosen = left.remove(index);
        for (sku, qty) in &mut need {
            *qty -= supply(&chosen.source, sku, candidates).min(*qty);
        }
        order.push((
            chosen.source.clone(),
            format!("ships {full} of the order's {} lines in full", lines.len()),
        ));
    }
    order.extend(
        left.iter()
            .map(|c| (c.source.clone(), format!("link priority {}", c.priority))),
    );
    order
}

/// (lines shipped in full, units shipped) by one source from what it holds.
fn coverage(
    source: &SourceCode,
    need: &[(Sku, Decimal)],
    candidates: &BTreeMap<Sku, Vec<Candidate>>,
) -> (usize, Decimal) {
    let mut full = 0;
    let mut units = Decimal::ZERO;
    for (sku, qty) in need.iter().filter(|(_, q)| *q > Decimal::ZERO) {
        let give = supply(source, sku, candidates).min(*qty);
        if give == *qty {
            full += 1;
        }
        units += give;
    }
    (full, units)
}

fn supply(source: &SourceCode, sku: &Sku, candidates: &BTreeMap<Sku, Vec<Candidate>>) -> Decimal {
    candidates
        .get(sku)
        .and_then(|c| c.iter().find(|c| &c.source == source))
        .map_or(Decimal::ZERO, |c| c.on_hand.max(Decimal::ZERO))
}

/// On-hand units first in ranking order, then the shortage on backorderable sources within
/// their limits, in the same order.
fn allocate(sku: &Sku, qty: Decimal, options: &[&Candidate], ranking: &Ranking) -> LineSuggestion {
    let mut need = qty;
    let mut picks: Vec<Pick> = Vec::new();
    for c in options {
        let available = c.on_hand.max(Decimal::ZERO);
        let take = available.min(need);
        if take > Decimal::ZERO {
            picks.push(Pick {
                source: c.source.clone(),
                deduct: take,
                available,
                backordered: Decimal::ZERO,
                reason: ranking.reason(&c.source).to_owned(),
            });
            need -= take;
        }
    }
    for c in options {
        if need <= Decimal::ZERO {
            break;
        }
        let take = c.room.map_or(need, |room| room.min(need));
        if take <= Decimal::ZERO {
            continue;
        }
        need -= take;
        let reason = "backordered within the source's limit";
        match picks.iter_mut().find(|p| p.source == c.source) {
            Some(pick) => {
                pick.deduct += take;
                pick.backordered += take;
                pick.reason = format!("{}; {reason}", pick.reason);
            }
            None => picks.push(Pick {
                source: c.source.clone(),
                deduct: take,
                available: c.on_hand.max(Decimal::ZERO),
                backordered: take,
                reason: reason.to_owned(),
            }),
        }
    }
    LineSuggestion {
        sku: sku.clone(),
        quantity: qty,
        picks,
        shortage: need.max(Decimal::ZERO),
        nothing_to_deduct: false,
    }
}

/// Haversine distance in kilometres on a sphere of the Earth's mean radius.
pub fn great_circle_km(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (lat1, lat2) = (a.latitude().to_radians(), b.latitude().to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude() - a.longitude()).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn cand(
        source: &str,
        priority: u32,
        on_hand: i64,
        room: Room,
        at: Option<(f64, f64)>,
    ) -> Candidate {
        Candidate {
            source: SourceCode::parse(source).unwrap(),
            priority,
            location: at.map(|(lat, lon)| GeoPoint::new(lat, lon).unwrap()),
            on_hand: d(on_hand),
            room,
        }
    }

    fn picks(s: &LineSuggestion) -> Vec<(&str, Decimal, Decimal)> {
        s.picks
            .iter()
            .map(|p| (p.source.as_str(), p.deduct, p.backordered))
            .collect()
    }

    #[test]
    fn the_great_circle_from_paris_to_london_is_about_344_km() {
        let paris = GeoPoint::new(48.8566, 2.3522).unwrap();
        let london = GeoPoint::new(51.5074, -0.1278).unwrap();
        let km = great_circle_km(paris, london);
        assert!((km - 343.5).abs() < 2.0, "{km}");
        assert!(great_circle_km(paris, paris).abs() < 1e-9);
    }

    #[test]
    fn priority_serves_from_the_preferred_source_first() {
        let mut c = BTreeMap::new();
        c.insert(
            sku("A"),
            vec![
                cand("b", 2, 10, Some(d(0)), None),
                cand("a", 1, 3, Some(d(0)), None),
            ],
        );
        let s = suggest(
            Algorithm::Priority,
            &[(sku("A"), d(5))],
            &c,
            &BTreeSet::new(),
            None,
        );
        assert!(s.shippable);
        assert_eq!(picks(&s.lines[0]), [("a", d(3), d(0)), ("b", d(2), d(0))]);
        assert_eq!(s.lines[0].picks[0].reason, "link priority 1");
        assert_eq!(s.lines[0].picks[0].available, d(3));
    }

    #[test]
    fn distance_prefers_the_nearest_and_puts_unknown_locations_last() {
        let paris = (48.8566, 2.3522);
        let london = (51.5074, -0.1278);
        let mut c = BTreeMap::new();
        c.insert(
            sku("A"),
            vec![
                cand("nowhere", 1, 10, Some(d(0)), None),
                cand("paris", 3, 2, Some(d(0)), Some(paris)),
                cand("london", 2, 10, Some(d(0)), Some(london)),
            ],
        );
        let to = GeoPoint::new(48.85, 2.35).ok();
        let s = suggest(
            Algorithm::Distance,
            &[(sku("A"), d(13))],
            &c,
            &BTreeSet::new(),
            to,
        );
        assert_eq!(
            picks(&s.lines[0]),
            [
                ("paris", d(2), d(0)),
                ("london", d(10), d(0)),
                ("nowhere", d(1), d(0))
            ]
        );
        assert!(
            s.lines[0].picks[0]
                .reason
                .ends_with("km from the destination")
        );
        assert!(s.lines[0].picks[2].reason.starts_with("no coordinates"));
    }

    #[test]
    fn fewest_sources_ships_the_order_from_one_source_when_one_can() {
        let mut c = BTreeMap::new();
        c.insert(
            sku("A"),
            vec![
                cand("near", 1, 5, Some(d(0)), None),
                cand("big", 2, 5, Some(d(0)), None),
            ],
        );
        c.insert(
            sku("B"),
            vec![
                cand("other", 1, 5, Some(d(0)), None),
                cand("big", 2, 5, Some(d(0)), None),
            ],
        );
        let lines = [(sku("A"), d(2)), (sku("B"), d(2))];
        let by_priority = suggest(Algorithm::Priority, &lines, &c, &BTreeSet::new(), None);
        assert_eq!(picks(&by_priority.lines[0])[0].0, "near");
        let fewest = suggest(Algorithm::FewestSources, &lines, &c, &BTreeSet::new(), None);
        assert_eq!(picks(&fewest.lines[0]), [("big", d(2), d(0))]);
        assert_eq!(picks(&fewest.lines[1]), [("big", d(2), d(0))]);
        assert_eq!(
            fewest.lines[0].picks[0].reason,
            "ships 2 of the order's 2 lines in full"
        );
    }

    #[test]
    fn backorderable_sources_take_the_shortage_within_their_limits() {
        let mut c = BTreeMap::new();
        c.insert(
            sku("A"),
            vec![
                cand("wh", 1, 2, Some(d(0)), None),
                cand("drop", 2, 0, Some(d(3)), None),
            ],
        );
        let s = suggest(
            Algorithm::Priority,
            &[(sku("A"), d(4))],
            &c,
            &BTreeSet::new(),
            None,
        );
        assert!(s.shippable);
        assert_eq!(
            picks(&s.lines[0]),
            [("wh", d(2), d(0)), ("drop", d(2), d(2))]
        );
        let short = suggest(
            Algorithm::Priority,
            &[(sku("A"), d(9))],
            &c,
            &BTreeSet::new(),
            None,
        );
        assert!(!short.shippable);
        assert_eq!(short.lines[0].shortage, d(4));
        let mut unlimited = c.clone();
        unlimited.get_mut(&sku("A")).unwrap()[0].room = None;
        let s = suggest(
            Algorithm::Priority,
            &[(sku("A"), d(9))],
            &unlimited,
            &BTreeSet::new(),
            None,
        );
        assert_eq!(picks(&s.lines[0]), [("wh", d(9), d(7))]);
    }

    #[test]
    fn a_sku_without_candidates_is_all_shortage() {
        let s = suggest(
            Algorithm::Priority,
            &[(sku("Z"), d(2))],
            &BTreeMap::new(),
            &BTreeSet::new(),
            None,
        );
        assert!(!s.shippable);
        assert_eq!(s.lines[0].shortage, d(2));
        assert!(s.lines[0].picks.is_empty());
        assert!(!s.lines[0].nothing_to_deduct);
    }

    #[test]
    fn an_unmanaged_line_plans_no_deduction_and_does_not_sway_the_ranking() {
        let mut c = BTreeMap::new();
        c.insert(sku("A"), vec![cand("near", 1, 5, Some(d(0)), None)]);
        c.insert(
            sku("U"),
            vec![
                cand("near", 1, 0, Some(d(0)), None),
                cand("big", 2, 50, Some(d(0)), None),
            ],
        );
        let unmanaged = BTreeSet::from([sku("U")]);
        let lines = [(sku("A"), d(2)), (sku("U"), d(9))];
        let s = suggest(Algorithm::FewestSources, &lines, &c, &unmanaged, None);
        assert!(
            s.shippable,
            "nothing is short on a line with nothing to deduct"
        );
        assert_eq!(picks(&s.lines[0]), [("near", d(2), d(0))]);
        assert_eq!(
            s.lines[0].picks[0].reason,
            "ships 1 of the order's 1 lines in full"
        );
        assert!(s.lines[1].nothing_to_deduct);
        assert!(s.lines[1].picks.is_empty());
        assert_eq!((s.lines[1].quantity, s.lines[1].shortage), (d(9), d(0)));
    }
}
