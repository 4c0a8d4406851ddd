# ruff: noqa: RUF001
# (Cyrillic and full-width characters are the point of this file, not look-alike typos.)
"""The raw material of synthetic Enterpret feedback: sources, languages, phrases, themes.

Phrases come in pairs (original, English) so that a non-English record carries the English
translation the vendor adds (``textEn``, ``conversationEn``, ``surveyResponseEn``). They contain,
on purpose and often, what breaks careless converters: accents, Cyrillic, CJK, emoji (one with a
zero-width joiner), typographic quotes, JSON quotes and backslashes, newlines, tabs, and U+2028.
"""

from typing import Final

#: Record type → the sources that produce it (a review never comes from Zendesk).
SOURCES_BY_TYPE: Final[dict[str, tuple[str, ...]]] = {
    "RecordTypeReview": ("Playstore", "AppStore", "Twitter", "G2"),
    "RecordTypeConversation": ("ZendeskSupport", "Intercom"),
    "RecordTypeSurvey": ("Qualtrics", "Typeform"),
    "RecordTypeForumConversationThread": ("Reddit", "Discourse"),
}
TYPE_WEIGHTS: Final[dict[str, int]] = {
    "RecordTypeReview": 45,
    "RecordTypeConversation": 25,
    "RecordTypeSurvey": 15,
    "RecordTypeForumConversationThread": 15,
}

#: (ISO 639-3, ISO 639-1, English name, weight).
LANGUAGES: Final[tuple[tuple[str, str, str, int], ...]] = (
    ("eng", "en", "English", 50),
    ("deu", "de", "German", 7),
    ("fra", "fr", "French", 7),
    ("spa", "es", "Spanish", 7),
    ("jpn", "ja", "Japanese", 6),
    ("bul", "bg", "Bulgarian", 5),
    ("ukr", "uk", "Ukrainian", 5),
    ("vie", "vi", "Vietnamese", 5),
    ("por", "pt", "Portuguese", 4),
    ("zho", "zh", "Chinese", 4),
)

#: ISO 639-3 → (original, English) phrase pairs; English phrases are their own translation.
PHRASES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "eng": (
        ("Extremely good.", "Extremely good."),
        ("Poor app to use on android mobiles", "Poor app to use on android mobiles"),
        ('The "Export" button does nothing.', 'The "Export" button does nothing.'),
        (
            "Saving to C:\\Users\\me\\Downloads fails every time",
            "Saving to C:\\Users\\me\\Downloads fails every time",
        ),
        ("Love it 😍🔥", "Love it 😍🔥"),
        ("Crashes on login.\nPlease fix!", "Crashes on login.\nPlease fix!"),
        ("Support was quick\tand friendly 👩‍💻", "Support was quick\tand friendly 👩‍💻"),
        ("Billing page says “pending” forever", "Billing page says “pending” forever"),
        (
            "Dark mode would be nice\u2028(line separator inside)",
            "Dark mode would be nice\u2028(line separator inside)",
        ),
        ("Sync between devices is slow", "Sync between devices is slow"),
    ),
    "deu": (
        ("Die App stürzt beim Öffnen ab.", "The app crashes on opening."),
        ("Größe der Schrift lässt sich nicht ändern", "The font size cannot be changed"),
        ('Der Knopf "Exportieren" reagiert nicht', 'The "Export" button does not respond'),
        ("Sehr zufrieden, weiter so! 👍", "Very satisfied, keep it up! 👍"),
        ("Anmeldung schlägt fehl.\nBitte beheben.", "Login fails.\nPlease fix."),
    ),
    "fra": (
        ("Très déçu par la dernière mise à jour", "Very disappointed by the latest update"),
        ("L'application est géniale, merci !", "The app is great, thank you!"),
        ("Impossible de télécharger « mes factures »", 'Cannot download "my invoices"'),
        ("Le support a été très réactif 🙏", "Support was very responsive 🙏"),
        ("Ça plante à chaque démarrage\\redémarrage", "It crashes on every start\\restart"),
    ),
    "spa": (
        ("¡Me encanta! Funciona genial 👍", "I love it! Works great 👍"),
        ("La sincronización tarda demasiado", "Synchronisation takes too long"),
        ("No puedo iniciar sesión desde el móvil", "I cannot log in from my phone"),
        ('El botón "Pagar" no aparece', 'The "Pay" button does not appear'),
        ("Niño, qué lento va todo…", "Boy, everything is so slow…"),
    ),
    "jpn": (
        ("アプリがすぐに落ちます。", "The app crashes immediately."),
        ("とても使いやすいです！", "Very easy to use!"),
        ("ログインできません。\n助けてください。", "I cannot log in.\nPlease help."),
        ("「エクスポート」ボタンが動かない", 'The "Export" button does not work'),
        ("料金が高すぎる　😢", "The price is too high 😢"),
    ),
    "bul": (
        ("Много добро приложение", "Very good app"),
        ("Не мога да вляза в профила си", "I cannot log into my account"),
        ("Бавно е след последната актуализация", "It is slow after the latest update"),
        ('Бутонът "Изпрати" не работи', 'The "Send" button does not work'),
    ),
    "ukr": (
        ("Не працює синхронізація «з телефоном»", 'Synchronisation "with the phone" does not work'),
        ("Дуже зручний застосунок 💙💛", "A very convenient app 💙💛"),
        ("Після оновлення все гальмує", "After the update everything lags"),
        ("Підтримка відповіла швидко.\nДякую!", "Support answered quickly.\nThanks!"),
    ),
    "vie": (
        ("Ứng dụng rất tốt, nhưng hơi chậm", "The app is very good, but a bit slow"),
        ("Không thể đăng nhập được", "Cannot log in"),
        ("Giá quá đắt so với tính năng", "Too expensive for the features"),
        ("Cảm ơn đội hỗ trợ! 🎉", "Thanks to the support team! 🎉"),
    ),
    "por": (
        ("Ótimo aplicativo, recomendo!", "Great app, I recommend it!"),
        ("Não consigo exportar os relatórios", "I cannot export the reports"),
        ("A atualização deixou tudo lento", "The update made everything slow"),
        ('O botão "Salvar" some às vezes', 'The "Save" button disappears sometimes'),
    ),
    "zho": (
        ("这个应用非常好用", "This app is very easy to use"),
        ("登录总是失败，请修复", "Login always fails, please fix"),
        ("导出功能太慢了😤", "The export feature is too slow😤"),
        ("客服回复很快，谢谢！", "Customer service replied quickly, thanks!"),
    ),
}

#: Survey questions are authored in English; answers are in the respondent's language.
SURVEY_QUESTIONS: Final = (
    "How likely are you to recommend us to a friend?",
    "What could we improve?",
    "Which features do you use?",
    'Anything else you\'d like to tell us? (say "none" if not)',
)
SURVEY_FEATURES: Final = ("Export", "Dashboards", "Alerts", "Mobile app", "API", "SSO")

#: Reason themes: (display name, sentiment of the theme).
REASON_THEMES: Final = (
    ("Issue With Uploading Documents", "NEUTRAL"),
    ("App Crashes On Launch", "NEGATIVE"),
    ("Login Failures", "NEGATIVE"),
    ("Slow Synchronisation", "NEGATIVE"),
    ("Export Button Unresponsive", "NEGATIVE"),
    ("Praise For Support Team", "POSITIVE"),
    ("Pricing Too High", "NEGATIVE"),
    ("Request For Dark Mode", "NEUTRAL"),
    ("Easy To Use", "POSITIVE"),
    ("Billing Status Stuck", "NEGATIVE"),
    ("Performance After Update", "NEGATIVE"),
    ("Font Size Settings", "NEUTRAL"),
    ("General Praise", "POSITIVE"),
    ("Invoice Download Problems", "NEGATIVE"),
    ("Mobile Login Issues", "NEGATIVE"),
    ("Feature Discovery", "NEUTRAL"),
)
SENTIMENT_LABELS: Final = ("Positive", "Negative", "Neutral", "Mixed")
KEYWORDS: Final = (
    "export",
    "login",
    "dark mode",
    "billing",
    "sync",
    "font size",
    "crash",
    "support",
    "pricing",
    "invoice",
    "mobile",
    "update",
)

COUNTRIES: Final = ("US", "DE", "FR", "ES", "JP", "BG", "UA", "VN", "BR", "CN", "GB", "IN")
TAGS: Final = ("billing", "mobile", "bug", "feature-request", "vip", "churn-risk", "onboarding")
PLANS: Final = ("Free", "Pro", "Business", "Enterprise")
PRIORITIES: Final = ("low", "normal", "high", "urgent")
APP_IDS: Final = ("us.zoom.videomeetings", "com.example.notes", "com.example.bank")
VERSIONS: Final = ("6.0.12.22225", "6.1.1.22710", "6.2.0.23001", "7.0.0.1")
REVIEWERS: Final = (
    "owilli samuel",
    "Haribhan Bhatt",
    "Vivek Kamble",
    "José Álvarez",
    "Zoë O'Brien",
    "Марія Коваленко",
    "山田 太郎",
    'Sam "the tester" Lee',
)
