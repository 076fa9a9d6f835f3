"""The one address normaliser (mail/addresses.py): one mailbox, one key; what can never get mail is
refused with a reason; international addresses are sent as IDNA, or need SMTPUTF8."""

import unicodedata

import pytest

from paperboy.errors import Invalid
from paperboy.mail.addresses import AddressError, mailbox_key, normalize


@pytest.mark.parametrize("spelling", ["victim@example.com", "VICTIM@EXAMPLE.COM", " Victim@Example.com\t", "victim@Example.COM"])
def test_case_and_surrounding_space_name_one_mailbox(spelling):
    assert normalize(spelling).key == "victim@example.com"


def test_the_domain_goes_out_lower_cased_the_local_part_as_typed():
    assert normalize("Ada.Lovelace@Example.ORG").address == "Ada.Lovelace@example.org"


def test_a_unicode_domain_is_sent_as_its_a_label_and_both_spellings_are_one_mailbox():
    box = normalize("uni@例え.jp")
    assert box.address == "uni@xn--r8jz45g.jp" and box.address.isascii()
    assert normalize("UNI@XN--R8JZ45G.JP").key == box.key


def test_composed_and_decomposed_unicode_are_one_mailbox():
    composed, decomposed = "zoë@café.fr", unicodedata.normalize("NFD", "zoë@café.fr")
    assert composed != decomposed
    assert normalize(composed, smtputf8=True) == normalize(decomposed, smtputf8=True)


@pytest.mark.parametrize(
    "raw, why",
    [
        ("victim@example.com(0)", "comment"),  # an RFC 5322 comment: was a second mailbox key for the same inbox
        ("(x)victim@example.com", "comment"),
        ("Victim <victim@example.com>", "space"),  # a display name
        ('"victim"@example.com', "quotes"),
        ("victim@example.com\u200b", "U+200B zero width space"),
        ("vic\u200dtim@example.com", "U+200D zero width joiner"),
        ("victim@example.com\u202e", "U+202E"),  # bidi override
        ("vic tim@example.com", "space"),
        ("victim@example.com\r\nBcc: all@example.com", "control"),
        ("victim@example.com, other@example.com", "','"),
        ("victim@[127.0.0.1]", "'['"),
        ("not-an-email", "valid e-mail"),
        ("a..b@example.com", "before the @"),
        (".a@example.com", "before the @"),
        ("a@localhost", "domain name"),
        ("a@example.com.", "domain name"),
        ("a@-example.com", "domain name"),
        ("a@@example.com", "valid e-mail"),
        ("", "valid e-mail"),
        ("a" * 65 + "@example.com", "before the @"),
        ("a@" + "b" * 250 + ".com", "too long"),
    ],
)
def test_what_is_not_one_plain_address_is_refused_with_the_reason(raw, why):
    with pytest.raises(AddressError, match=None) as e:
        normalize(raw, smtputf8=True)
    assert why in str(e.value)
    assert isinstance(e.value, Invalid) and isinstance(e.value, ValueError)  # a form's message, and the outbox's refusal


def test_a_non_ascii_local_part_needs_smtputf8():
    with pytest.raises(AddressError, match="SMTPUTF8"):
        normalize("üser@example.com")
    box = normalize("üser@例え.jp", smtputf8=True)
    assert box.address == "üser@xn--r8jz45g.jp" and box.smtputf8
    assert not normalize("user@例え.jp").smtputf8


def test_a_look_up_key_never_matches_a_refused_spelling():
    assert mailbox_key("Victim@Example.com") == "victim@example.com"
    assert mailbox_key("victim@example.com(0)") != "victim@example.com(0)" and "\0" in mailbox_key("victim@example.com(0)")
