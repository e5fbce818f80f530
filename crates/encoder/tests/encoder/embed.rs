use bert::burn::tensor::Device;
use bert::{Pooling, PretrainedBert};
use data::Record;
use encoder::{EmbedOptions, EncodeError, FrozenEncoder, LayerSelection};
use testkit::tiny_model;

fn record(id: &str, text: &str, text_b: Option<&str>) -> Record {
    Record {
        id: id.into(),
        text: text.into(),
        text_b: text_b.map(Into::into),
        label: None,
    }
}

fn encoder(options: EmbedOptions) -> FrozenEncoder {
    let device = Device::flex();
    let bert = PretrainedBert::load(tiny_model(), 32, &device).unwrap();
    FrozenEncoder::new(bert, device, options).unwrap()
}

#[test]
fn batched_length_sorted_embeddings_equal_one_at_a_time_in_input_order() {
    let records = vec![
        record(
            "long",
            "the quick brown fox jumps over the lazy dog and the cat sat on the mat",
            None,
        ),
        record("short", "cat", None),
        record("pair", "oil price rose", Some("the market fell")),
        record("mid", "happy dog runs on the mat", None),
        record("unk", "zebra", None),
    ];
    let selections = [
        LayerSelection::Last,
        LayerSelection::Mean(2),
        LayerSelection::Concat(2),
    ];
    for (pooling, layers) in Pooling::ALL
        .into_iter()
        .flat_map(|p| selections.map(|l| (p, l)))
    {
        let options = EmbedOptions {
            batch_size: 2,
            pooling,
            layers,
            normalize: true,
            ..EmbedOptions::default()
        };
        let encoder = encoder(options.clone());
        let (batched, summary) = encoder.embed(&records, &mut |_| {}).unwrap();
        assert_eq!((batched.rows, batched.dim), (5, 32 * layers.width_factor()));
        assert!(summary.padded_tokens >= summary.tokens);
        for (i, r) in records.iter().enumerate() {
            let alone = encoder
                .embed(std::slice::from_ref(r), &mut |_| {})
                .unwrap()
                .0;
            let diff = alone
                .row(0)
                .iter()
                .zip(batched.row(i))
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff < 1e-5,
                "{pooling}: record {} differs by {diff} when batched",
                r.id
            );
            let norm: f32 = batched.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "not normalised");
        }
    }
}

#[test]
fn a_record_with_no_tokens_is_named() {
    let encoder = encoder(EmbedOptions::default());
    let records = vec![record("fine", "cat", None), record("blank-7", " \t ", None)];
    match encoder.embed(&records, &mut |_| {}) {
        Err(EncodeError::Record(e)) => assert_eq!(e.id, "blank-7"),
        other => panic!("expected the empty record to be named, got {other:?}"),
    }
}

#[test]
fn zero_batch_size_and_empty_inputs_are_errors() {
    let device = Device::flex();
    let bert = PretrainedBert::load(tiny_model(), 32, &device).unwrap();
    let options = EmbedOptions {
        batch_size: 0,
        ..EmbedOptions::default()
    };
    assert!(matches!(
        FrozenEncoder::new(bert, device, options),
        Err(EncodeError::Setting(settings::SettingError {
            setting: "batch_size",
            ..
        }))
    ));
    let encoder = encoder(EmbedOptions::default());
    assert!(matches!(
        encoder.embed(&[], &mut |_| {}),
        Err(EncodeError::NoRecords)
    ));
}
