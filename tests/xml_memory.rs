//! The XML reader's memory stays within a small multiple of the answer's
//! size, whatever the answer: measured by a counting global allocator (the
//! peak of live heap bytes while one document is read). Its own binary, so
//! that nothing else allocates meanwhile: one test, run in order.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use daffron_bridge::multispeak::xml;
use daffron_bridge::multispeak::{NS, SOAP_NS, response};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::SeqCst) + l.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::SeqCst);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            // Old and new blocks may both be live while copying: count both.
            let now = LIVE.fetch_add(new, Ordering::SeqCst) + new;
            PEAK.fetch_max(now, Ordering::SeqCst);
            LIVE.fetch_sub(l.size(), Ordering::SeqCst);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The peak of heap bytes allocated while `f` runs, above what was live before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (PEAK.load(Ordering::SeqCst) - base, out)
}

/// What "a small multiple" means here: the heap used while reading an
/// answer is at most this many times its size, plus a little.
const FACTOR: usize = 16;
const SLACK: usize = 1 << 20;

fn env(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

#[test]
fn any_answer_is_read_within_a_small_multiple_of_its_size() {
    let long_ns = format!("urn:{}", "n".repeat(4000));
    let payment = "<paymentTransaction><accountNumber>35909001</accountNumber><achPayment><tender errorString=\"Duplicate payment\"><extensionsList><extensionsItem><extName>transactionId</extName><extValue>6f9619ff-8b86-4d11-b42d-00c04fc964ff</extValue><extType>string</extType></extensionsItem></extensionsList><amount>232.10</amount><responseCode>Failure</responseCode></tender></achPayment></paymentTransaction>";
    let cases: Vec<(&str, String, bool)> = vec![
        // The review's case: one 4,000-character namespace, 400,000 empty
        // children (1.6 MB; it took about 1.6 GB).
        (
            "long namespace, 400k empty children",
            format!("<r xmlns=\"{long_ns}\">{}</r>", "<a/>".repeat(400_000)),
            false,
        ),
        // Many tiny elements with text, and with attributes.
        (
            "tiny texts",
            format!("<r>{}</r>", "<a>1</a>".repeat(400_000)),
            false,
        ),
        (
            "attributes",
            format!("<r>{}</r>", "<a b='1' c='2' d='3' e='4'/>".repeat(100_000)),
            false,
        ),
        // Text and attributes of the largest sizes, near the 16 MiB cap.
        (
            "long text",
            format!("<r>{}</r>", "x".repeat(15 << 20)),
            true,
        ),
        (
            "long attribute",
            format!("<r a='{}'/>", "y".repeat(15 << 20)),
            true,
        ),
        // A real answer, 1,000 payments long: must be read.
        (
            "1,000 payment answers",
            env(&format!(
                "<CommitPaymentTransactionResponse xmlns=\"{NS}\"><CommitPaymentTransactionResult>{}</CommitPaymentTransactionResult></CommitPaymentTransactionResponse>",
                payment.repeat(1_000)
            )),
            true,
        ),
    ];
    for (what, doc, must_read) in cases {
        let len = doc.len();
        let (peak, parsed) = peak_of(|| xml::parse(doc.as_bytes()).map(|_| ()));
        println!(
            "{what}: {len} bytes, peak {peak} bytes ({:.1}x), {parsed:?}",
            peak as f64 / len as f64
        );
        assert!(
            peak <= FACTOR * len + SLACK,
            "{what}: {len} bytes took {peak} bytes of heap ({:.1}x)",
            peak as f64 / len as f64
        );
        if must_read {
            assert_eq!(parsed, Ok(()), "{what}");
        }
        let (peak, _) = peak_of(|| response::read_envelope(doc.as_bytes()).map(|_| ()));
        assert!(
            peak <= FACTOR * len + SLACK,
            "{what}: read_envelope took {peak}"
        );
    }
    // The real answer is still understood.
    let doc = env(&format!(
        "<CommitPaymentTransactionResponse xmlns=\"{NS}\"><CommitPaymentTransactionResult>{}</CommitPaymentTransactionResult></CommitPaymentTransactionResponse>",
        payment.repeat(1_000)
    ));
    let answers = response::parse_payment_answers(doc.as_bytes()).unwrap();
    assert!(matches!(answers, response::Answer::Ok(v) if v.len() == 1_000));
}
