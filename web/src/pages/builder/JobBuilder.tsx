// Placeholder: replaced by the real page.
export default function JobBuilder() {
  return <h1 className="text-xl font-semibold">JobBuilder</h1>;
}
