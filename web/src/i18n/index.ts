// Every string the UI shows goes through i18next; English is the one catalogue so far.
// The catalogue is split by area (`en/common.json`, `en/dashboard.json`, …) so pages own
// their strings; the files are merged into one namespace here, keys grouped by area
// (`dashboard.*`, `builder.*`; `common.*`, `status.*`, `nav.*` are shared).
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';

const parts = import.meta.glob<{ default: Record<string, unknown> }>('./en/*.json', { eager: true });
const en: Record<string, unknown> = {};
for (const part of Object.values(parts)) Object.assign(en, part.default);

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en } },
  lng: 'en',
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
});

export default i18n;
