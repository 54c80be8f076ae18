"""The words mail clients write around quoted history, in the languages our customers' clients
speak: header fields of a quoted or forwarded mail (Outlook, Foxmail, QQ Mail, Apple Mail,
Thunderbird), "original message" separators, forward markers and "wrote" verbs.

One table per kind, shared by `quotes` (where the history starts) and `forwards` (where a
forwarded mail's words start), so a language added here is known to both. The localisations
are the clients' own (Outlook's and Gmail's language packs, Apple Mail, Thunderbird)."""

from __future__ import annotations

import re

# Field name -> what it is, as localised Outlook/Apple/Thunderbird/Foxmail/QQ/NetEase blocks
# write it. Roles: from, sent, to, cc, subject, other (fields that may sit between them).
HEADER_FIELDS = {
    # English, Chinese (simplified, traditional), NetEase's table ("至")
    "from": "from", "sent": "sent", "date": "sent", "to": "to", "cc": "cc", "bcc": "other",
    "subject": "subject", "reply-to": "other", "importance": "other",
    "发件人": "from", "发送时间": "sent", "发送日期": "sent", "时间": "sent", "日期": "sent",
    "收件人": "to", "抄送": "cc", "密送": "other", "主题": "subject", "至": "to",
    "寄件者": "from", "寄件人": "from", "寄件日期": "sent", "收件者": "to", "副本": "cc",
    "主旨": "subject", "傳送時間": "sent", "發件人": "from", "主題": "subject",
    # German, Dutch
    "von": "from", "gesendet": "sent", "datum": "sent", "an": "to", "betreff": "subject",
    "kopie": "cc", "van": "from", "verzonden": "sent", "aan": "to", "onderwerp": "subject",
    # French, Spanish, Portuguese, Italian
    "de": "from", "envoyé": "sent", "à": "to", "objet": "subject", "cci": "other",
    "expéditeur": "from", "destinataire": "to", "pour": "to", "sujet": "subject",
    "répondre à": "other",
    "enviado": "sent", "enviado el": "sent", "fecha": "sent", "para": "to", "asunto": "subject",
    "enviada em": "sent", "enviado em": "sent", "assunto": "subject",
    "da": "from", "data": "sent", "inviato": "sent", "a": "to", "oggetto": "subject",
    # Scandinavian, Finnish
    "från": "from", "skickat": "sent", "till": "to", "ämne": "subject", "kopia": "cc",
    "fra": "from", "sendt": "sent", "til": "to", "emne": "subject",
    "lähettäjä": "from", "lähetetty": "sent", "vastaanottaja": "to", "aihe": "subject",
    # Polish, Czech, Russian, Turkish, Hungarian
    "od": "from", "wysłano": "sent", "do": "to", "temat": "subject", "dw": "cc",
    "odesláno": "sent", "komu": "to", "předmět": "subject",
    "от": "from", "отправлено": "sent", "дата": "sent", "кому": "to", "тема": "subject",
    "копия": "cc", "kimden": "from", "gönderildi": "sent", "kime": "to", "konu": "subject",
    "feladó": "from", "elküldve": "sent", "címzett": "to", "tárgy": "subject",
    # Japanese, Korean
    "差出人": "from", "送信日時": "sent", "宛先": "to", "件名": "subject",
    "보낸 사람": "from", "보낸 날짜": "sent", "받는 사람": "to", "제목": "subject",
}  # fmt: skip
# A header line of a quoted mail: optional *bold* or a NetEase table's "|", a name of one or
# two words, a colon (ASCII or full-width; "De :" with French spacing) or the table's next "|".
# The name is looked up in the table rather than spelt out in the pattern: a regular
# expression of 150 alternatives costs every line of every mail twice as much. Possessive runs
# (`{1,20}+`, `\s*+`): a prose line fails at once instead of backtracking through its first
# word, and "From" with 100,000 spaces after it is linear, not quadratic.
FIELD_CANDIDATE = re.compile(
    r"^\s*+(?:\|\s*+)?\**+\s*+([^\s:：|*<>]{1,20}+(?: [^\s:：|*<>]{1,12}+)?)\s*+\**+\s*+"
    r"(?:[:：]|\|(?=.*\|\s*$))"
)


def header_field(line: str) -> tuple[str, int] | None:
    """(role, where the value starts) when `line` is a header line of a quoted or forwarded
    mail in any language of the table, else None."""
    found = FIELD_CANDIDATE.match(line)
    if found is None:
        return None
    role = HEADER_FIELDS.get(found.group(1).lower())
    return None if role is None else (role, found.end())


# "Original message" as Outlook, Thunderbird, QQ Mail, Foxmail, NetEase and Android clients
# localise it, between runs of "-" or "*".
ORIGINAL_MESSAGE = (
    r"original message|original|原始邮件|原始郵件|邮件原件|郵件原件|邮件原文|原邮件"
    r"|回复的原邮件|原始信息|reply message|antwort nachricht"
    r"|ursprüngliche nachricht|originalnachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht|originalmeddelande|oprindelig meddelelse"
    r"|opprinnelig melding|alkuperäinen viesti|wiadomość oryginalna|původní zpráva"
    r"|eredeti üzenet|mensagem original|исходное сообщение|元のメッセージ|원본 메시지"
    r"|orijinal mesaj"
)

# A forwarded message's marker between runs of "-", "*" or "=" (Gmail, Thunderbird, Outlook,
# Zoho, Android clients).
FORWARDED_MESSAGE = (
    r"forwarded message|转发邮件|转发的邮件|轉寄的郵件|轉發的郵件|转发的消息|已转发邮件"
    r"|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato"
    r"|doorgestuurd bericht|vidarebefordrat meddelande|videresendt meddelelse"
    r"|videresendt melding|välitetty viesti|wiadomość przekazana dalej|přeposlaná zpráva"
    r"|mensagem encaminhada|пересылаемое сообщение|転送されたメッセージ|転送メッセージ"
    r"|전달된 메시지"
)
# Apple Mail's "Begin forwarded message:" in its languages.
BEGIN_FORWARDED = (
    r"begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié"
    r"|début du message transféré|anfang der weitergeleiteten e-mail"
    r"|inicio del mensaje reenviado|inizio messaggio inoltrato|begin doorgestuurd bericht"
    r"|início da mensagem reencaminhada|vidarebefordrat brev|以下是转发的邮件|以下为转发的邮件"
    r"|转发的邮件|轉寄的郵件|転送されたメッセージ"
)

# "wrote" as clients localise it: German, Dutch, French, Italian, Spanish, Portuguese, the
# Scandinavian languages, Finnish, Estonian, Polish, Czech, Russian, Ukrainian, Turkish,
# Hungarian, Romanian, Greek, Vietnamese, Indonesian, Japanese, Korean, Chinese; Gnus' "writes".
WROTE = (
    r"wrote|writes|写道|寫道|撰写|schrieb|schreef|het volgende geschreven|a écrit|ha scritto"
    r"|escribió|escreveu|skrev"
    r"|kirjoitti|napisał\(a\)|napisała|napisał|napsal\(a\)|napsala|napsal|написал\(а\)"
    r"|написала|написал|написав|пишет|пише|書きました|작성|yazdı|írta|a scris|έγραψε|đã viết"
    r"|menulis|kirjutas|작성하였습니다|nadesłał"
)
