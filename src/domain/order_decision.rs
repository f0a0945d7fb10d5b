//! The decision for a batch of orders (DOMAIN §4): which to place, which to refuse, which are
//! retries to answer from what is stored. One rule for one order or for hundreds at once.
//!
//! Orders are judged in arrival order against a running tally, so each sees exactly what it would
//! have seen alone after the ones before it. The stored answer comes first: an order id already
//! stored is answered from it whatever the stock says now, and copies of one id inside the batch
//! are answered like the first copy.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::{
    ids::Sku,
    order::{CartId, LineRefusal, OrderId},
    quantity::Quantity,
    salable::{QuantityCheck, StockSku, check_quantity},
};

/// One order of the batch, as the decision needs it.
#[derive(Debug, Clone, Copy)]
pub struct OrderToDecide<'a> {
    /// The idempotency key.
    pub order_id: &'a OrderId,
    /// The canonical text of the order's content (`order::fingerprint`).
    pub fingerprint: &'a str,
    /// The cart whose holds the order consumes.
    pub cart: Option<&'a CartId>,
    /// SKU and quantity, each SKU once.
    pub lines: &'a [(Sku, Quantity)],
}

/// What the batch does with one order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderDecision {
    /// Reserve every line; one verdict per line, in request order.
    Place(Vec<QuantityCheck>),
    /// Reserve nothing; every failing line and rule.
    Refuse(Vec<LineRefusal>),
    /// The id is stored with this content: answer from the stored order.
    Replay,
    /// The id is stored, or placed earlier in this batch, with other content.
    Conflict,
    /// A copy, with the same content, of the order at this index of the batch: answered alike
    /// (a placed one as a replay, a refused one with the same refusal).
    CopyOf(usize),
}

/// Unexpired holds per cart and SKU, as positive quantities: what each cart gets back when it
/// orders.
pub type CartHolds = HashMap<CartId, HashMap<String, Decimal>>;

/// Decides every order of a batch of one stock. `stored` maps the batch's order ids that exist
/// already to their stored fingerprints; `stock` gives each SKU's state before the batch.
pub fn decide_orders<'o>(
    orders: &[OrderToDecide<'o>],
    stored: &HashMap<&str, &str>,
    mut holds: CartHolds,
    stock: impl Fn(&'o Sku) -> StockSku<'o>,
) -> Vec<OrderDecision> {
    let mut tally = Tally::default();
    // The first judged copy of each (id, content), and the one placed copy of each id.
    let mut judged: HashMap<(&str, &str), usize> = HashMap::new();
    let mut placed: HashMap<&str, usize> = HashMap::new();
    let mut decisions = Vec::with_capacity(orders.len());
    for (index, order) in orders.iter().enumerate() {
        let id = order.order_id.as_str();
        let decision = if let Some(print) = stored.get(id) {
            answer_stored(print, order.fingerprint)
        } else if let Some(&first) = judged.get(&(id, order.fingerprint)) {
            OrderDecision::CopyOf(first)
        } else if placed.contains_key(id) {
            OrderDecision::Conflict
        } else {
            // A refused copy changed nothing, so other content under its id is judged as new.
            judged.insert((id, order.fingerprint), index);
            let decision = tally.judge(order, &mut holds, &stock);
            if matches!(decision, OrderDecision::Place(_)) {
                placed.insert(id, index);
            }
            decision
        };
        decisions.push(decision);
    }
    decisions
}

fn answer_stored(stored: &str, fingerprint: &str) -> OrderDecision {
    if stored == fingerprint {
        OrderDecision::Replay
    } else {
        OrderDecision::Conflict
    }
}

/// Checks every line of a request (an order, a cart's holds) against the stock: one verdict per
/// line when all pass, or every failing line and rule.
pub fn check_lines<'o>(
    lines: &'o [(Sku, Quantity)],
    stock: impl Fn(&'o Sku) -> StockSku<'o>,
) -> Result<Vec<QuantityCheck>, Vec<LineRefusal>> {
    let mut refusals = Vec::new();
    let mut checks = Vec::with_capacity(lines.len());
    for (i, (sku, qty)) in lines.iter().enumerate() {
        let check = check_quantity(&stock(sku), *qty);
        refusals.extend(
            check
                .violations
                .iter()
                .map(|v| LineRefusal::rule(i, sku, v.code, v.message())),
        );
        checks.push(check);
    }
    if refusals.is_empty() {
        Ok(checks)
    } else {
        Err(refusals)
    }
}

/// Reservations the batch has made so far.
#[derive(Default)]
struct Tally {
    /// Change of live reservations per SKU since the batch's snapshot (negative: reserved).
    delta: HashMap<String, Decimal>,
}

impl Tally {
    /// Judges one order as if it were alone, after the orders before it in the batch.
    fn judge<'o>(
        &mut self,
        order: &OrderToDecide<'o>,
        holds: &mut CartHolds,
        stock: &impl Fn(&'o Sku) -> StockSku<'o>,
    ) -> OrderDecision {
        let own = order.cart.and_then(|c| holds.get(c));
        let checks = check_lines(order.lines, |sku| {
            let mut view = stock(sku);
            view.reserved += self.delta.get(sku.as_str()).copied().unwrap_or_default();
            // The cart's own holds are available to it.
            view.reserved += own
                .and_then(|h| h.get(sku.as_str()))
                .copied()
                .unwrap_or_default();
            view
        });
        let checks = match checks {
            Ok(checks) => checks,
            Err(refusals) => return OrderDecision::Refuse(refusals),
        };
        if let Some(cart) = order.cart
            && let Some(consumed) = holds.remove(cart)
        {
            // The order consumes its cart's holds: they stop counting for the orders after it.
            for (sku, qty) in consumed {
                *self.delta.entry(sku).or_default() += qty;
            }
        }
        for ((sku, qty), check) in order.lines.iter().zip(&checks) {
            if check.salable.manage_stock {
                *self.delta.entry(sku.to_string()).or_default() -= qty.get();
            }
        }
        OrderDecision::Place(checks)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{
        GlobalSettings, LinkedSourceItem, ProductSettings, SourceCode, SourceItem,
        SourceItemSettings, SourceItemStatus,
    };

    /// One stock whose SKUs each have one source item of the given quantity.
    struct World {
        global: GlobalSettings,
        product: ProductSettings,
        items: HashMap<String, Vec<LinkedSourceItem>>,
    }

    impl World {
        fn new(stock: &[(&str, i64)]) -> Self {
            let items = stock
                .iter()
                .map(|(sku, qty)| ((*sku).to_owned(), vec![item(sku, *qty)]))
                .collect();
            Self {
                global: GlobalSettings::default(),
                product: ProductSettings::default(),
                items,
            }
        }

        fn decide(
            &self,
            orders: &[Order],
            stored: &[(&str, &str)],
            holds: CartHolds,
        ) -> Vec<OrderDecision> {
            let inputs: Vec<OrderToDecide<'_>> = orders.iter().map(Order::input).collect();
            let stored: HashMap<&str, &str> = stored.iter().copied().collect();
            decide_orders(&inputs, &stored, holds, |s| StockSku {
                sku: s,
                global: &self.global,
                product: &self.product,
                items: self.items.get(s.as_str()).map_or(&[], Vec::as_slice),
                reserved: Decimal::ZERO,
            })
        }
    }

    struct Order {
        id: OrderId,
        print: String,
        cart: Option<CartId>,
        lines: Vec<(Sku, Quantity)>,
    }

    impl Order {
        fn input(&self) -> OrderToDecide<'_> {
            OrderToDecide {
                order_id: &self.id,
                fingerprint: &self.print,
                cart: self.cart.as_ref(),
                lines: &self.lines,
            }
        }

        fn cart(mut self, cart: &str) -> Self {
            self.cart = Some(CartId::parse(cart).unwrap());
            self
        }
    }

    fn order(id: &str, lines: &[(&str, i64)]) -> Order {
        let lines: Vec<(Sku, Quantity)> = lines
            .iter()
            .map(|(s, n)| (sku(s), Quantity::parse(&n.to_string()).unwrap()))
            .collect();
        Order {
            id: OrderId::parse(id).unwrap(),
            print: crate::domain::order::fingerprint(&[], lines.iter().map(|(s, q)| (s, *q))),
            cart: None,
            lines,
        }
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn item(s: &str, qty: i64) -> LinkedSourceItem {
        LinkedSourceItem {
            item: SourceItem {
                source: SourceCode::parse("default").unwrap(),
                sku: sku(s),
                quantity: Quantity::parse(&qty.to_string()).unwrap(),
                status: SourceItemStatus::InStock,
                settings: SourceItemSettings::default(),
            },
            priority: 1,
            source_enabled: true,
        }
    }

    fn codes(decision: &OrderDecision) -> Vec<(usize, &'static str)> {
        match decision {
            OrderDecision::Refuse(refusals) => refusals.iter().map(|r| (r.line, r.code)).collect(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn holds(cart: &str, sku: &str, qty: i64) -> CartHolds {
        let mut held = CartHolds::new();
        held.entry(CartId::parse(cart).unwrap())
            .or_default()
            .insert(sku.to_owned(), Decimal::from(qty));
        held
    }

    #[test]
    fn orders_are_judged_in_arrival_order_against_a_running_tally() {
        let world = World::new(&[("A", 5)]);
        let decisions = world.decide(
            &[
                order("1", &[("A", 3)]),
                order("2", &[("A", 3)]),
                order("3", &[("A", 2)]),
            ],
            &[],
            CartHolds::new(),
        );
        assert!(matches!(decisions[0], OrderDecision::Place(_)));
        assert_eq!(codes(&decisions[1]), vec![(0, "NOT_ENOUGH_QTY")]);
        assert!(matches!(decisions[2], OrderDecision::Place(_)));
    }

    #[test]
    fn a_stored_order_is_answered_from_the_store_whatever_the_stock() {
        let world = World::new(&[("A", 0)]);
        let placed = order("1", &[("A", 3)]);
        let print = placed.print.clone();
        let other = order("1", &[("A", 4)]);
        let decisions = world.decide(&[placed, other], &[("1", &print)], CartHolds::new());
        assert_eq!(
            decisions,
            vec![OrderDecision::Replay, OrderDecision::Conflict]
        );
    }

    #[test]
    fn copies_inside_a_batch_are_answered_like_the_first() {
        let world = World::new(&[("A", 5)]);
        let decisions = world.decide(
            &[
                order("1", &[("A", 3)]),
                order("1", &[("A", 3)]),
                order("1", &[("A", 1)]),
                order("2", &[("A", 9)]),
                order("2", &[("A", 9)]),
            ],
            &[],
            CartHolds::new(),
        );
        assert!(matches!(decisions[0], OrderDecision::Place(_)));
        assert_eq!(decisions[1], OrderDecision::CopyOf(0));
        assert_eq!(decisions[2], OrderDecision::Conflict);
        assert_eq!(codes(&decisions[3]), vec![(0, "NOT_ENOUGH_QTY")]);
        assert_eq!(decisions[4], OrderDecision::CopyOf(3));
    }

    #[test]
    fn other_content_under_a_refused_id_is_judged_as_new() {
        let world = World::new(&[("A", 5)]);
        let decisions = world.decide(
            &[
                order("1", &[("A", 9)]),
                order("1", &[("A", 2)]),
                order("1", &[("A", 9)]),
            ],
            &[],
            CartHolds::new(),
        );
        assert_eq!(codes(&decisions[0]), vec![(0, "NOT_ENOUGH_QTY")]);
        assert!(matches!(decisions[1], OrderDecision::Place(_)));
        assert_eq!(decisions[2], OrderDecision::CopyOf(0));
    }

    #[test]
    fn a_refusal_names_every_failing_line() {
        let world = World::new(&[("A", 1), ("B", 1)]);
        let decisions = world.decide(
            &[order("1", &[("A", 2), ("B", 1), ("C", 1)])],
            &[],
            CartHolds::new(),
        );
        assert_eq!(
            codes(&decisions[0]),
            vec![(0, "NOT_ENOUGH_QTY"), (2, "SKU_NOT_ASSIGNED_TO_STOCK")]
        );
    }

    #[test]
    fn a_carts_own_holds_are_available_to_it_once() {
        // 5 on hand, 4 of them held by cart c: the snapshot's reservations say so.
        let world = World::new(&[("A", 5)]);
        let held = holds("c", "A", 4);
        let inputs = [
            order("1", &[("A", 2)]),
            order("2", &[("A", 4)]).cart("c"),
            order("3", &[("A", 4)]).cart("c"),
        ];
        let inputs_ref: Vec<OrderToDecide<'_>> = inputs.iter().map(Order::input).collect();
        let decisions = decide_orders(&inputs_ref, &HashMap::new(), held, |s| StockSku {
            sku: s,
            global: &world.global,
            product: &world.product,
            items: world.items.get(s.as_str()).map_or(&[], Vec::as_slice),
            reserved: Decimal::from(-4),
        });
        // One unit is free beside the hold; the cart's own order gets its 4 back, and a second
        // order of the cart no longer has them.
        assert_eq!(codes(&decisions[0]), vec![(0, "NOT_ENOUGH_QTY")]);
        assert!(matches!(decisions[1], OrderDecision::Place(_)));
        assert_eq!(codes(&decisions[2]), vec![(0, "NOT_ENOUGH_QTY")]);
    }

    proptest! {
        /// Whatever arrives, the batch never reserves more than is salable, every order gets
        /// one decision, and copies of one content get one answer.
        #[test]
        fn a_batch_never_oversells_and_answers_copies_alike(
            stock in 0i64..20,
            orders in prop::collection::vec((0u8..6, 1i64..8), 1..40),
        ) {
            let world = World::new(&[("A", stock)]);
            let orders: Vec<Order> = orders
                .iter()
                .map(|(id, qty)| order(&id.to_string(), &[("A", *qty)]))
                .collect();
            let decisions = world.decide(&orders, &[], CartHolds::new());
            prop_assert_eq!(decisions.len(), orders.len());
            let mut reserved = 0;
            for (i, decision) in decisions.iter().enumerate() {
                match decision {
                    OrderDecision::Place(_) => {
                        reserved += orders[i].lines[0].1.get().mantissa() as i64;
                    }
                    OrderDecision::CopyOf(first) => {
                        prop_assert!(*first < i);
                        prop_assert_eq!(&orders[*first].print, &orders[i].print);
                        prop_assert!(!matches!(decisions[*first], OrderDecision::CopyOf(_)));
                    }
                    OrderDecision::Conflict => {
                        let placed = decisions[..i].iter().enumerate().any(|(j, d)| {
                            matches!(d, OrderDecision::Place(_)) && orders[j].id == orders[i].id
                        });
                        prop_assert!(placed);
                    }
                    OrderDecision::Refuse(r) => prop_assert!(!r.is_empty()),
                    OrderDecision::Replay => prop_assert!(false, "nothing was stored"),
                }
            }
            prop_assert!(reserved <= stock);
        }
    }
}
