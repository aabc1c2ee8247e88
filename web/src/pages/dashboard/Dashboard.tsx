// Placeholder: replaced by the real page.
export default function Dashboard() {
  return <h1 className="text-xl font-semibold">Dashboard</h1>;
}
